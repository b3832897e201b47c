// Errors as RFC 9457 "Problem Details for HTTP APIs": every 4xx and 5xx of
// the spells API is `application/problem+json` with `type`, `title`,
// `status`, `detail` and, where it helps, extension members (`errors` for
// field-level validation, `dependency` for a 503). Pure.
//
// `type` is "about:blank" (RFC 9457 section 4.2.1: the status says it all)
// except for the problems a client handles differently, which get a URN of
// their own (an absolute URI that dereferences to nothing, as section 3.1.1
// allows): validation, conflict, dependency-unavailable.

import { HttpError } from "../../lib/http/errors.ts";
import type { HttpResponse } from "../../lib/http/message.ts";
import { statusText } from "../../lib/http/status.ts";
import type { FieldError } from "./spells.ts";

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

export const PROBLEM_TYPES = {
  validation: "urn:underhood:problem:validation",
  conflict: "urn:underhood:problem:conflict",
  unavailable: "urn:underhood:problem:dependency-unavailable",
} as const;

/** The members a problem may carry besides `status` (extension members too). */
export interface ProblemFields {
  type?: string;
  title?: string;
  detail?: string;
  instance?: string;
  [extension: string]: unknown;
}

export interface Problem extends ProblemFields {
  status: number;
}

/** A problem+json response. */
export function problem(
  status: number,
  fields: ProblemFields = {},
  headers: Record<string, string> = {},
): HttpResponse {
  const body: Problem = {
    type: fields.type ?? "about:blank",
    title: fields.title ?? statusText(status),
    status,
    ...fields,
  };
  return {
    status,
    headers: { "content-type": PROBLEM_CONTENT_TYPE, "cache-control": "no-store", ...headers },
    body: JSON.stringify(body),
  };
}

/** 422 with one entry per field that failed (400 when the body is not an object at all). */
export function validationProblem(errors: readonly FieldError[], instance?: string): HttpResponse {
  return problem(422, {
    type: PROBLEM_TYPES.validation,
    title: "The request has invalid fields",
    detail: errors.map((e) => e.field ? `${e.field}: ${e.message}` : e.message).join("; "),
    instance,
    errors,
  });
}

/** 503 naming the dependency that is down, with a Retry-After (RFC 9110 section 10.2.3). */
export function unavailableProblem(
  dependency: string,
  detail: string,
  retryAfterSeconds = 1,
): HttpResponse {
  return problem(503, {
    type: PROBLEM_TYPES.unavailable,
    title: `The ${dependency} is unavailable`,
    detail,
    dependency,
  }, { "retry-after": String(retryAfterSeconds) });
}

/** The problem for an error thrown by lib/http (bad JSON 400, 413, 415) or anything else (500). */
export function problemOfError(error: unknown): HttpResponse {
  if (error instanceof HttpError) {
    return problem(
      error.status,
      { detail: error.message },
      error.close ? { connection: "close" } : {},
    );
  }
  return problem(500, { detail: "internal server error" });
}

/**
 * A router's own error answer (lib/http's router says 404 and 405 as
 * `{"error": ...}` JSON) turned into a problem, keeping its headers (Allow).
 */
export function asProblem(response: HttpResponse): HttpResponse {
  if (response.status < 400) return response;
  const headers = { ...(response.headers as Record<string, string> | undefined) };
  const type = headers["content-type"];
  if (type === undefined || !type.startsWith("application/json")) return response;
  let parsed: unknown;
  try {
    parsed = JSON.parse(String(response.body));
  } catch {
    return response;
  }
  // Only lib/http's own `{"error": "..."}` answers; /readyz's JSON stays as it is.
  if (typeof parsed !== "object" || parsed === null || Object.keys(parsed).join() !== "error") {
    return response;
  }
  const detail = String((parsed as { error: unknown }).error);
  delete headers["content-type"];
  return problem(response.status, { detail }, headers);
}
