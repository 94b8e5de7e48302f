//! The layering of `src/`: no top-level module reaches, through others, back
//! to itself, and none but `main.rs` uses `cmd` (the commands, and the
//! command line that names them, sit on top).
//! A top-level module is the first component of a path under `src/`
//! (`src/store/writer.rs` is in `store`); it depends on another when any of
//! its files names `crate::<other>` (in a `use`, a group `crate::{a, b}`, or
//! a path in code), test code included. Comments are not read.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

#[test]
fn the_top_level_modules_form_no_cycle() {
    let graph = graph_of(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(graph.len() > 10, "only {} modules read: {graph:?}", graph.len());
    if let Some(cycle) = find_cycle(&graph) {
        panic!("the modules under src/ form a cycle: {}", cycle.join(" -> "));
    }
}

#[test]
fn nothing_but_main_uses_cmd() {
    let graph = graph_of(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let users: Vec<&String> = graph.iter().filter(|(_, deps)| deps.contains("cmd")).map(|(module, _)| module).collect();
    assert!(users.is_empty(), "these modules use crate::cmd, which only main.rs may: {users:?}");
}

#[test]
fn the_check_finds_what_it_looks_for() {
    let source = "use crate::{a::X, b, c::{self, D}};\n// crate::e in a comment\nfn f() { crate::f::g(); }";
    let names: Vec<String> = referenced(source).into_iter().collect();
    assert_eq!(names, ["a", "b", "c", "f"]);
    let mut graph = Graph::new();
    let edge = |graph: &mut Graph, from: &str, to: &str| graph.entry(from.into()).or_default().insert(to.into());
    edge(&mut graph, "a", "b");
    edge(&mut graph, "b", "c");
    edge(&mut graph, "c", "d");
    assert_eq!(find_cycle(&graph), None);
    edge(&mut graph, "d", "b");
    assert_eq!(find_cycle(&graph), Some(vec!["b".into(), "c".into(), "d".into(), "b".into()]));
}

/// Each top-level module (but `lib` and `main`) with the others it references.
fn graph_of(src: &Path) -> Graph {
    let mut graph = Graph::new();
    for file in rust_files(src) {
        let relative = file.strip_prefix(src).unwrap();
        let first = relative.components().next().unwrap().as_os_str().to_string_lossy();
        let module = first.strip_suffix(".rs").unwrap_or(&first).to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let deps = graph.entry(module.clone()).or_default();
        deps.extend(referenced(&text).into_iter().filter(|name| *name != module));
    }
    graph
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|x| x == "rs") {
            files.push(path);
        }
    }
    files
}

/// The top-level modules a file's code names as `crate::<name>`, its
/// comments left out.
fn referenced(text: &str) -> BTreeSet<String> {
    let code: String = text.lines().map(|line| line.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
    let mut names = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        let preceded_by_ident = rest[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_');
        rest = &rest[at + "crate::".len()..];
        if preceded_by_ident {
            continue; // `kaizen_crate::`, not ours
        }
        match rest.strip_prefix('{') {
            Some(group) => names.extend(group_heads(group)),
            None => names.extend(identifier(rest)),
        }
    }
    names.remove("self");
    names
}

/// The first name of each path in a `{...}` group (`a` in `a::b`), up to its closing brace.
fn group_heads(group: &str) -> Vec<String> {
    let (mut heads, mut depth, mut at_start) = (Vec::new(), 0usize, true);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => at_start = true,
            c if c.is_whitespace() => {}
            _ if at_start && depth == 0 => {
                heads.extend(identifier(&group[i..]));
                at_start = false;
            }
            _ => {}
        }
    }
    heads
}

fn identifier(text: &str) -> Option<String> {
    let end = text.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(text.len());
    (end > 0).then(|| text[..end].to_string())
}

/// A cycle, as the path that closes it (`a -> b -> a`), if the graph has one.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &str,
        graph: &Graph,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let from = path.iter().position(|n| n == node).unwrap();
                let mut cycle = path[from..].to_vec();
                cycle.push(node.to_string());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node.to_string(), Mark::Open);
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, marks, path) {
                return Some(cycle);
            }
        }
        path.pop();
        marks.insert(node.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    graph.keys().find_map(|node| visit(node, graph, &mut marks, &mut Vec::new()))
}
