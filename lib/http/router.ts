// Method + path routing for lib/http handlers.
//
// Patterns are literal segments and `:name` parameters (`/api/spells/:id`),
// plus an optional final `*` that matches the rest of the path (exposed as
// params["*"]). A path that matches no pattern is 404; a path that matches
// with another method is 405 with an `Allow` header (RFC 9110 section
// 15.5.6). HEAD falls back to GET (the server drops the body). Each route may
// set its own body limit: a Content-Length over it is refused with 413
// before the body is read (and before any 100 Continue). Pure: no I/O.

import { HttpError } from "./errors.ts";
import type { Handler, HttpRequest, HttpResponse } from "./message.ts";
import { jsonError } from "./message.ts";

export interface RouteOptions {
  /** Largest request body this route accepts; default the router's (1 MiB). */
  bodyLimitBytes?: number;
}

interface Route {
  method: string;
  segments: readonly string[];
  handler: Handler;
  bodyLimitBytes: number;
}

export interface RouterOptions {
  bodyLimitBytes?: number;
}

export class Router {
  #routes: Route[] = [];
  #bodyLimitBytes: number;

  constructor(options: RouterOptions = {}) {
    this.#bodyLimitBytes = options.bodyLimitBytes ?? 1024 * 1024;
  }

  /** Adds a route; later routes are tried after earlier ones. */
  route(method: string, pattern: string, handler: Handler, options: RouteOptions = {}): this {
    if (!pattern.startsWith("/")) throw new TypeError(`pattern must start with "/": ${pattern}`);
    const segments = splitPath(pattern);
    const star = segments.indexOf("*");
    if (star !== -1 && star !== segments.length - 1) {
      throw new TypeError(`"*" must be the last segment: ${pattern}`);
    }
    this.#routes.push({
      method: method.toUpperCase(),
      segments,
      handler,
      bodyLimitBytes: options.bodyLimitBytes ?? this.#bodyLimitBytes,
    });
    return this;
  }

  get(pattern: string, handler: Handler, options?: RouteOptions): this {
    return this.route("GET", pattern, handler, options);
  }
  post(pattern: string, handler: Handler, options?: RouteOptions): this {
    return this.route("POST", pattern, handler, options);
  }
  put(pattern: string, handler: Handler, options?: RouteOptions): this {
    return this.route("PUT", pattern, handler, options);
  }
  patch(pattern: string, handler: Handler, options?: RouteOptions): this {
    return this.route("PATCH", pattern, handler, options);
  }
  delete(pattern: string, handler: Handler, options?: RouteOptions): this {
    return this.route("DELETE", pattern, handler, options);
  }

  /** The router as a handler for `serveHttp`. */
  readonly handle: Handler = (request) => this.#dispatch(request);

  #dispatch(request: HttpRequest): HttpResponse | Promise<HttpResponse> {
    const segments = splitPath(request.path);
    let allowed: Set<string> | undefined; // made only for a 405
    let fallback: { route: Route; params: Record<string, string> } | undefined;
    for (const route of this.#routes) {
      const params = matchSegments(route.segments, segments);
      if (params === null) continue;
      if (route.method === request.method) return this.#run(route, params, request);
      if (request.method === "HEAD" && route.method === "GET") fallback ??= { route, params };
      (allowed ??= new Set()).add(route.method);
    }
    if (fallback) return this.#run(fallback.route, fallback.params, request);
    if (allowed === undefined) return jsonError(404, `no route for ${request.path.slice(0, 200)}`);
    if (allowed.has("GET")) allowed.add("HEAD");
    const allow = [...allowed].sort().join(", ");
    return jsonError(405, `method ${request.method} not allowed`, { allow });
  }

  #run(
    route: Route,
    params: Record<string, string>,
    request: HttpRequest,
  ): HttpResponse | Promise<HttpResponse> {
    request.params = params;
    request.bodyLimitBytes = route.bodyLimitBytes;
    // The server says what the head declared; a request built elsewhere has only its headers.
    const declared = request.declaredBodyBytes !== undefined
      ? request.declaredBodyBytes
      : Number(request.headers.get("content-length") ?? 0);
    if (declared > route.bodyLimitBytes) {
      // Refused before reading: no 100 Continue goes out; the server closes.
      throw new HttpError(413, `request body larger than ${route.bodyLimitBytes} bytes`, {
        close: true,
      });
    }
    return route.handler(request);
  }
}

function splitPath(path: string): string[] {
  return path.split("/").filter((segment) => segment !== "");
}

function matchSegments(
  pattern: readonly string[],
  path: readonly string[],
): Record<string, string> | null {
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const want = pattern[i];
    if (want === "*") {
      params["*"] = path.slice(i).map(decodeSegment).join("/");
      return params;
    }
    if (i >= path.length) return null;
    if (want.startsWith(":")) {
      params[want.slice(1)] = decodeSegment(path[i]);
    } else if (want !== path[i]) {
      return null;
    }
  }
  return pattern.length === path.length ? params : null;
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, "bad percent-encoding in path");
  }
}
