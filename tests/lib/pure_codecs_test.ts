// Codecs do no I/O, and a machine proves it (docs/architecture.md habit 1): every file
// of lib/<protocol>/ except its client and server, and every file those
// import from this repository, must not touch `Deno` at run time nor import
// `node:` modules. A type such as `Deno.NetAddr` is allowed: it is erased.

import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** Files of a protocol folder that are allowed I/O: its client and server. */
const IO_FILE = /(^|\/)(client|server|server_[a-z_]+)\.ts$/;
/** `Deno.X` where X is a type, never a value. */
const TYPE_ONLY = new Set(["NetAddr", "Addr", "UnixAddr", "TcpConn", "Conn"]);
const PROTOCOL_FOLDERS = ["lib/dns", "lib/resp", "lib/http", "lib/pg", "lib/stomp", "lib/smtp"];

function pureFiles(): string[] {
  const files: string[] = [];
  for (const folder of PROTOCOL_FOLDERS) {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(join(ROOT, folder))];
    } catch {
      continue; // not built yet
    }
    for (const entry of entries) {
      const path = `${folder}/${entry.name}`;
      if (entry.isFile && path.endsWith(".ts") && !IO_FILE.test(path)) files.push(path);
    }
  }
  return files.sort();
}

/** What makes a file impure, or [] when it is pure. */
function impurities(source: string): string[] {
  const found: string[] = [];
  for (const match of source.matchAll(/\bDeno\.([A-Za-z]+)/g)) {
    if (!TYPE_ONLY.has(match[1])) found.push(`Deno.${match[1]}`);
  }
  for (const match of source.matchAll(/(?:from|import)\s*\(?\s*"(node:[^"]+)"/g)) {
    found.push(match[1]);
  }
  return found;
}

function relativeImports(source: string): string[] {
  return [...source.matchAll(/from\s+"(\.[^"]+\.ts)"/g)].map((match) => match[1]);
}

Deno.test("pure codec files and everything they import use neither Deno nor node: APIs", () => {
  const files = pureFiles();
  assert.ok(files.length >= 10, `found only ${files.length} codec files`);
  const seen = new Set<string>();
  const problems: string[] = [];
  const visit = (path: string, via: string) => {
    if (seen.has(path)) return;
    seen.add(path);
    const source = Deno.readTextFileSync(join(ROOT, path));
    for (const what of impurities(source)) problems.push(`${path} (${via}) uses ${what}`);
    for (const spec of relativeImports(source)) {
      const target = relative(ROOT, join(ROOT, dirname(path), spec));
      visit(target, via === path ? path : via);
    }
  };
  for (const file of files) visit(file, file);
  assert.deepEqual(problems, []);
});

Deno.test("the purity check itself flags Deno calls and node: imports, not Deno types", () => {
  assert.deepEqual(impurities('import { x } from "node:fs";\nDeno.readFile("a");'), [
    "Deno.readFile",
    "node:fs",
  ]);
  assert.deepEqual(impurities("let a: Deno.NetAddr | undefined;"), []);
});
