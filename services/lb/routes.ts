// Which pool a request goes to, and the target it is sent with. Pure.
//
// A rule matches on any of: an exact path, a path prefix, a host and a set
// of methods (all that are given must match). Among matching rules an exact
// path wins over any prefix, a longer prefix over a shorter one, and on a
// tie the rule listed first. A prefix matches at a segment boundary: "/api"
// matches "/api" and "/api/x" but not "/apix" ("/api/" matches only below
// it). Hosts compare without case and without the port; "*.example.com"
// matches any name under example.com. With no matching rule the default
// pool is used; with none of those the balancer answers 404 itself.
//
// The target is passed exactly as received (no normalization of "..",
// percent-escapes or double slashes: the backend must see what the client
// sent) unless the rule strips or rewrites the matched prefix.

export interface RouteRule {
  /** Exact path (without the query). */
  readonly path?: string;
  /** Path prefix, matched at a segment boundary. */
  readonly prefix?: string;
  /** Host name, "*.suffix" for any name under suffix. */
  readonly host?: string;
  /** Upper-case methods; absent: any. */
  readonly methods?: readonly string[];
  readonly pool: string;
  /** Remove the matched prefix from the target ("/api/x" -> "/x"). */
  readonly stripPrefix?: boolean;
  /** Replace the matched prefix with this ("/v1/x" -> "/v2/x" for "/v2"). */
  readonly rewritePrefix?: string;
}

export interface RouteMatch {
  readonly pool: string;
  /** The target to send upstream. */
  readonly target: string;
  /** Which rule matched: its index, or "default". */
  readonly rule: string;
}

/** The pool and upstream target for one request, or undefined (404). */
export function matchRoute(
  rules: readonly RouteRule[],
  defaultPool: string | undefined,
  request: { method: string; host: string | undefined; path: string; target: string },
): RouteMatch | undefined {
  if (rules.length === 0) {
    return defaultPool === undefined
      ? undefined
      : { pool: defaultPool, target: request.target, rule: "default" };
  }
  const host = request.host === undefined ? undefined : hostOnly(request.host);
  let best = -1;
  let bestRank = -1;
  for (let i = 0; i < rules.length; i++) {
    const rank = rankOf(rules[i], request.method, host, request.path);
    if (rank > bestRank) {
      best = i;
      bestRank = rank;
    }
  }
  if (best === -1) {
    return defaultPool === undefined
      ? undefined
      : { pool: defaultPool, target: request.target, rule: "default" };
  }
  const rule = rules[best];
  return { pool: rule.pool, target: rewrite(rule, request.target), rule: String(best) };
}

/**
 * How well `rule` matches: -1 not at all; exact paths rank above every
 * prefix; prefixes by length. A rule without a path ranks 0.
 */
function rankOf(rule: RouteRule, method: string, host: string | undefined, path: string): number {
  if (rule.methods !== undefined && !rule.methods.includes(method)) return -1;
  if (rule.host !== undefined && (host === undefined || !hostMatches(rule.host, host))) return -1;
  if (rule.path !== undefined) return rule.path === path ? Number.MAX_SAFE_INTEGER : -1;
  if (rule.prefix !== undefined) return prefixMatches(rule.prefix, path) ? rule.prefix.length : -1;
  return 0;
}

export function prefixMatches(prefix: string, path: string): boolean {
  if (!path.startsWith(prefix)) return false;
  return prefix.endsWith("/") || path.length === prefix.length || path[prefix.length] === "/" ||
    path[prefix.length] === "?";
}

function hostMatches(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase();
  if (p.startsWith("*.")) return host.endsWith(p.slice(1)) && host.length > p.length - 1;
  return p === host;
}

/** The host without its port, lower case ("[::1]:80" -> "[::1]"). */
export function hostOnly(host: string): string {
  const h = host.toLowerCase();
  if (h.startsWith("[")) {
    const end = h.indexOf("]");
    return end === -1 ? h : h.slice(0, end + 1);
  }
  const colon = h.indexOf(":");
  return colon === -1 ? h : h.slice(0, colon);
}

function rewrite(rule: RouteRule, target: string): string {
  if (rule.prefix === undefined) return target;
  if (rule.rewritePrefix === undefined && !rule.stripPrefix) return target;
  // The prefix matched the path, which is where the origin-form target starts.
  if (!target.startsWith(rule.prefix)) return target;
  let rest = target.slice(rule.prefix.length);
  let replacement = rule.rewritePrefix ?? "";
  // Keep exactly one slash at the seam: "/api/" stripped from "/api/x" leaves "x".
  if (replacement.endsWith("/") && rest.startsWith("/")) rest = rest.slice(1);
  if (!replacement.endsWith("/") && !rest.startsWith("/") && rest !== "" && !rest.startsWith("?")) {
    replacement += "/";
  }
  const out = replacement + rest;
  if (out === "" || out.startsWith("?")) return "/" + out;
  return out;
}
