// Route matching and target rewriting, pure.

import assert from "node:assert/strict";
import { matchRoute, type RouteRule } from "../../../services/lb/routes.ts";

const RULES: RouteRule[] = [
  { prefix: "/api", pool: "api" }, // 0
  { prefix: "/api/admin", pool: "admin" }, // 1
  { path: "/api/admin/login", pool: "login" }, // 2
  { prefix: "/files/", pool: "objects", stripPrefix: true }, // 3
  { prefix: "/v1", pool: "v2", rewritePrefix: "/v2" }, // 4
  { host: "static.example.com", pool: "static" }, // 5
  { host: "*.tenants.example.com", prefix: "/", pool: "tenants" }, // 6
  { prefix: "/api", methods: ["POST"], pool: "writes" }, // 7: same rank as 0, listed later
  { prefix: "/upload", methods: ["PUT", "POST"], pool: "uploads" }, // 8
];

function route(method: string, target: string, host?: string, defaultPool?: string) {
  const q = target.indexOf("?");
  const path = q === -1 ? target : target.slice(0, q);
  return matchRoute(RULES, defaultPool, { method, host, path, target });
}

Deno.test({
  name: "matchRoute: longest prefix wins, exact path beats every prefix",
  permissions: "none",
}, () => {
  const table: [string, string, string | undefined, string | undefined, string][] = [
    // method, target, host, expected pool, expected target
    ["GET", "/api", undefined, "api", "/api"],
    ["GET", "/api/spells?x=1", undefined, "api", "/api/spells?x=1"],
    ["GET", "/api/admin/users", undefined, "admin", "/api/admin/users"],
    ["GET", "/api/admin/login", undefined, "login", "/api/admin/login"],
    ["GET", "/api/admin/login/x", undefined, "admin", "/api/admin/login/x"],
    ["GET", "/apix", undefined, undefined, ""], // prefixes match at a segment boundary
    ["POST", "/api/spells", undefined, "api", "/api/spells"], // equal rank: first listed wins
    ["GET", "/upload/a", undefined, undefined, ""], // method not allowed by the rule
    ["PUT", "/upload/a", undefined, "uploads", "/upload/a"],
  ];
  for (const [method, target, host, pool, upstream] of table) {
    const m = route(method, target, host);
    assert.equal(m?.pool, pool, `${method} ${target}`);
    if (pool !== undefined) assert.equal(m!.target, upstream, `${method} ${target}`);
  }
});

Deno.test({
  name: "matchRoute: hosts compare without case or port, with wildcards",
  permissions: "none",
}, () => {
  assert.equal(route("GET", "/x", "Static.Example.com:8080")?.pool, "static");
  assert.equal(route("GET", "/x", "a.tenants.example.com")?.pool, "tenants");
  assert.equal(route("GET", "/x", "tenants.example.com"), undefined);
  assert.equal(route("GET", "/x", "other.example.com"), undefined);
  assert.equal(route("GET", "/x", undefined, "web")?.pool, "web");
  assert.equal(route("GET", "/x", undefined, "web")?.rule, "default");
});

Deno.test({
  name: "matchRoute: strips and rewrites prefixes, keeping the query",
  permissions: "none",
}, () => {
  assert.equal(route("GET", "/files/a/b.txt?v=1")?.target, "/a/b.txt?v=1");
  assert.equal(route("GET", "/files/")?.target, "/");
  assert.equal(route("GET", "/v1/spells?q")?.target, "/v2/spells?q");
  assert.equal(route("GET", "/v1")?.target, "/v2");
  assert.equal(route("GET", "/v1?x")?.target, "/v2?x");
});

Deno.test(
  { name: "matchRoute: the target passes exactly as received", permissions: "none" },
  () => {
    for (const target of ["/api/../etc/passwd", "/api//x", "/api/%2e%2e/x?a=%zz", "/api?"]) {
      assert.equal(route("GET", target)?.target, target);
    }
  },
);
