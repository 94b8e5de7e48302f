"""An OTLP/HTTP receiver for the export tests: decodes every request with the
official opentelemetry-proto definitions (protobuf or OTLP/JSON), appends
each log record to OUT/records.jsonl, each span (of /v1/traces) to
OUT/spans.jsonl and each request to OUT/requests.jsonl, and answers as
OUT/answers.json says (a list consumed in order; then 200).

Usage: otlp_receiver.py OUT [CERT KEY [CLIENT_CA]]
Listens on 127.0.0.1 (HTTPS with CERT and KEY when given, asking for a client
certificate signed by CLIENT_CA when that is given), writes its port to OUT/port.
A request is written down before it is answered.
"""

import gzip
import json
import os
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

OUT = sys.argv[1]
LOCK = threading.Lock()


def value(v):
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind) if kind else None


def attrs(kvs):
    return {kv.key: value(kv.value) for kv in kvs}


def next_answer():
    path = os.path.join(OUT, "answers.json")
    try:
        with open(path) as f:
            answers = json.load(f)
    except FileNotFoundError:
        return {"status": 200}
    if not answers:
        return {"status": 200}
    with open(path + ".tmp", "w") as f:
        json.dump(answers[1:], f)
    os.replace(path + ".tmp", path)
    return answers[0]


def append(name, rows):
    with open(os.path.join(OUT, name), "a") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


def rpc_status(code, message):
    """google.rpc.Status {code = 1; message = 2} in protobuf."""
    msg = message.encode()
    out = bytes([0x08, code, 0x12])
    n = len(msg)
    while n >= 0x80:
        out += bytes([n & 0x7F | 0x80])
        n >>= 7
    return out + bytes([n]) + msg


def log_rows(request):
    return [{
        "resource": attrs(rl.resource.attributes),
        "scope": sl.scope.name,
        "time_unix_nano": r.time_unix_nano,
        "severity_number": r.severity_number,
        "severity_text": r.severity_text,
        "event_name": r.event_name,
        "body": value(r.body),
        "attributes": attrs(r.attributes),
    } for rl in request.resource_logs for sl in rl.scope_logs for r in sl.log_records]


def span_rows(request):
    return [{
        "resource": attrs(rs.resource.attributes),
        "scope": ss.scope.name,
        "trace_id": s.trace_id.hex(),
        "span_id": s.span_id.hex(),
        "parent_span_id": s.parent_span_id.hex(),
        "name": s.name,
        "kind": s.kind,
        "start_time_unix_nano": s.start_time_unix_nano,
        "end_time_unix_nano": s.end_time_unix_nano,
        "attributes": attrs(s.attributes),
        "links": [{"trace_id": l.trace_id.hex(), "span_id": l.span_id.hex()} for l in s.links],
        "status_code": s.status.code,
        "status_message": s.status.message,
    } for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]


# Per signal: the request and response types, its rows, where they go, the
# partial-success field.
SIGNALS = {
    "logs": (logs_service_pb2.ExportLogsServiceRequest, logs_service_pb2.ExportLogsServiceResponse, log_rows,
             "records", "rejected_log_records"),
    "traces": (trace_service_pb2.ExportTraceServiceRequest, trace_service_pb2.ExportTraceServiceResponse, span_rows,
               "spans", "rejected_spans"),
}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        encoding = self.headers.get("Content-Encoding")
        if encoding == "gzip":
            body = gzip.decompress(body)
        is_json = "json" in self.headers.get("Content-Type", "")
        kind = "traces" if self.path.endswith("/v1/traces") else "logs"
        request_type, response_type, rows_of, name, rejected_field = SIGNALS[kind]
        request = request_type()
        if is_json:
            json_format.Parse(body, request)
        else:
            request.ParseFromString(body)
        with LOCK:
            answer = next_answer()
            rows = rows_of(request)
            status = answer.get("status", 200)
            append("requests.jsonl", [{"path": self.path, "json": is_json, name: len(rows), "status": status,
                                       "user_agent": self.headers.get("User-Agent"),
                                       "x_team": self.headers.get("X-Team"), "encoding": encoding}])
            if 200 <= status < 300:
                append(f"{name}.jsonl", rows[answer.get("rejected", 0):])
        self.answer(answer, is_json, response_type(), rejected_field)

    def answer(self, answer, is_json, response, rejected_field):
        status = answer.get("status", 200)
        if 200 <= status < 300:
            if answer.get("rejected"):
                setattr(response.partial_success, rejected_field, answer["rejected"])
                response.partial_success.error_message = answer.get("message", "")
            payload = json_format.MessageToJson(response).encode() if is_json else response.SerializeToString()
        elif is_json:
            payload = json.dumps({"code": 3, "message": answer.get("message", "")}).encode()
        else:
            payload = rpc_status(3, answer.get("message", ""))
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if is_json else "application/x-protobuf")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
if len(sys.argv) >= 4:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[2], sys.argv[3])
    if len(sys.argv) >= 5:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(sys.argv[4])
    server.socket = context.wrap_socket(server.socket, server_side=True)
with open(os.path.join(OUT, "port.tmp"), "w") as f:
    f.write(str(server.server_address[1]))
os.replace(os.path.join(OUT, "port.tmp"), os.path.join(OUT, "port"))
server.serve_forever()
