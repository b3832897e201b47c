// The spells REST API as one lib/http handler: routes, and what each does
// with the datastore (SpellsTable), the cache (SpellCache), the mq
// (EventPublisher) and the object store (S3Client). The dependencies come
// in as an argument, so tests can hand in real services on port 0.
//
//   GET    /api/spells              list: ?limit=&offset= or ?limit=&cursor=, ?q= (name contains)
//   POST   /api/spells              create: 201 + Location, publishes spell.created
//   GET    /api/spells/:id          one spell, cache-aside (x-cache: hit | miss | skip)
//   PUT    /api/spells/:id          replace the fields a client sets
//   PATCH  /api/spells/:id          change some of them
//   DELETE /api/spells/:id          204 (and its image goes too)
//   PUT    /api/spells/:id/image    store an image in the object store
//   GET    /api/spells/:id/image    stream it back
//   GET    /healthz /readyz /metrics
//
// Every error is RFC 9457 problem+json (problem.ts). When a dependency is
// down: reads skip the cache; a datastore outage is 503 with Retry-After;
// an mq outage leaves POST answering 201 (counted); an object store outage
// is 503 on the image routes only.

import type { Logger } from "@logtape/logtape";
import { type CheckResult, mountAdmin } from "../../lib/admin.ts";
import type { Bytes } from "../../lib/bytes.ts";
import { HttpClientError } from "../../lib/http/client.ts";
import { HttpError } from "../../lib/http/errors.ts";
import {
  type Handler,
  type HttpRequest,
  type HttpResponse,
  json,
  readBody,
  readJson,
} from "../../lib/http/message.ts";
import { Router } from "../../lib/http/router.ts";
import type { Counter, MetricsRegistry } from "../../lib/metrics.ts";
import { PgServerError } from "../../lib/pg/client.ts";
import { type S3Client, S3ClientError } from "../../lib/s3/client.ts";
import type { SpellCache } from "./cache.ts";
import { type SpellsTable, UNIQUE_VIOLATION } from "./datastore.ts";
import { type EventPublisher, SPELL_CREATED_DESTINATION } from "./events.ts";
import { DependencyDown, describe } from "./pool.ts";
import {
  asProblem,
  problem,
  PROBLEM_TYPES,
  problemOfError,
  unavailableProblem,
  validationProblem,
} from "./problem.ts";
import {
  encodeCursor,
  parseId,
  parseListQuery,
  type Spell,
  spellCreatedEvent,
  validateFull,
  validatePatch,
} from "./spells.ts";

/** Where images live: one bucket, one key per spell. */
export interface ImageStore {
  s3: S3Client;
  bucket: string;
}

export interface ApiDeps {
  spells: SpellsTable;
  cache: SpellCache;
  events: EventPublisher;
  /** How long a POST owns its new event before the outbox relay may publish it. */
  eventClaimMs: number;
  images: ImageStore;
  registry: MetricsRegistry;
  log: Logger;
}

/** A JSON body of a spell is small: 16 KiB is room for every field at its longest, in UTF-8. */
export const SPELL_BODY_BYTES_MAX = 16 * 1024;
/** An image up to 10 MiB, streamed through to the object store. */
export const IMAGE_BYTES_MAX = 10 * 1024 * 1024;

export interface ApiMetrics {
  cacheLookups: Counter;
  cacheErrors: Counter;
  eventsPublished: Counter;
  eventsUnpublished: Counter;
  eventsRelayed: Counter;
}

export function apiMetrics(registry: MetricsRegistry, deps: () => ApiDeps | undefined): ApiMetrics {
  const up = registry.gauge(
    "http_api_dependency_up",
    "1 while a dependency answers, 0 while it is down (in backoff)",
    ["dependency"],
  );
  registry.onCollect(() => {
    const d = deps();
    if (d === undefined) return;
    up.set({ dependency: "datastore" }, d.spells.pool.up ? 1 : 0);
    up.set({ dependency: "cache" }, d.cache.pool.up ? 1 : 0);
    up.set({ dependency: "mq" }, d.events.up ? 1 : 0);
  });
  return {
    cacheLookups: registry.counter(
      "http_api_cache_lookups_total",
      "GET /api/spells/:id cache lookups by result (hit, miss, skip: cache unreachable)",
      ["result"],
    ),
    cacheErrors: registry.counter(
      "http_api_cache_errors_total",
      "cache fills and invalidations that could not reach the cache",
    ),
    eventsPublished: registry.counter(
      "http_api_events_published_total",
      "spell.created events the mq acknowledged with a receipt",
    ),
    eventsUnpublished: registry.counter(
      "http_api_events_unpublished_total",
      "spell.created events POST could not publish (mq down or slow); they wait in the outbox",
    ),
    eventsRelayed: registry.counter(
      "http_api_events_relayed_total",
      "spell.created events the outbox relay published later",
    ),
  };
}

/** The API as a handler: routes, errors as problem+json. */
export function spellsApi(deps: ApiDeps, metrics: ApiMetrics): Handler {
  const router = new Router({ bodyLimitBytes: SPELL_BODY_BYTES_MAX });
  const api = new SpellsHandlers(deps, metrics);
  router.get("/api/spells", (r) => api.list(r));
  router.post("/api/spells", (r) => api.create(r));
  router.get("/api/spells/:id", (r) => api.get(r));
  router.put("/api/spells/:id", (r) => api.replace(r));
  router.patch("/api/spells/:id", (r) => api.patch(r));
  router.delete("/api/spells/:id", (r) => api.remove(r));
  router.put("/api/spells/:id/image", (r) => api.putImage(r), { bodyLimitBytes: IMAGE_BYTES_MAX });
  router.get("/api/spells/:id/image", (r) => api.getImage(r));
  mountAdmin(router, {
    registry: deps.registry,
    readiness: () => readiness(deps),
  });
  return async (request) => {
    try {
      return asProblem(await router.handle(request));
    } catch (error) {
      return errorResponse(error, deps.log, request);
    }
  };
}

/** The problem for anything a handler threw. */
function errorResponse(error: unknown, log: Logger, request: HttpRequest): HttpResponse {
  if (error instanceof DependencyDown) {
    return unavailableProblem(error.dependency, error.message);
  }
  if (error instanceof HttpClientError) {
    return unavailableProblem("objects", `objects: ${error.message}`);
  }
  if (error instanceof S3ClientError && error.status >= 500) {
    return unavailableProblem("objects", error.message);
  }
  if (!(error instanceof HttpError)) {
    log.error("{method} {path} failed: {error}", {
      method: request.method,
      path: request.path,
      error: error instanceof Error ? (error.stack ?? error.message) : String(error),
    });
  }
  return problemOfError(error);
}

class SpellsHandlers {
  readonly #deps: ApiDeps;
  readonly #metrics: ApiMetrics;

  constructor(deps: ApiDeps, metrics: ApiMetrics) {
    this.#deps = deps;
    this.#metrics = metrics;
  }

  async list(request: HttpRequest): Promise<HttpResponse> {
    const query = parseListQuery(request.query);
    if (!query.ok) return validationProblem(query.errors, request.target);
    const items = await this.#deps.spells.list(query.value);
    const full = items.length === query.value.limit;
    return json({
      items,
      limit: query.value.limit,
      ...(query.value.after === undefined ? { offset: query.value.offset } : {}),
      nextCursor: full ? encodeCursor(items[items.length - 1].id) : null,
    });
  }

  async create(request: HttpRequest): Promise<HttpResponse> {
    const fields = validateFull(await readJson(request));
    if (!fields.ok) return validationProblem(fields.errors, request.target);
    let created: { spell: Spell; eventId: bigint };
    try {
      created = await this.#deps.spells.insertWithEvent(
        fields.value,
        new Date(Date.now() + this.#deps.eventClaimMs),
      );
    } catch (error) {
      const conflict = nameConflict(error, fields.value.name);
      if (conflict) return conflict;
      throw error;
    }
    await this.#publishCreated(created.spell, created.eventId);
    return json(created.spell, 201, { location: `/api/spells/${created.spell.id}` });
  }

  /**
   * Publishes the new spell's event and removes it from the outbox; when
   * that fails the event stays there, and the outbox relay publishes it once
   * this request's claim on it runs out (outbox.ts).
   */
  async #publishCreated(spell: Spell, eventId: bigint): Promise<void> {
    try {
      await this.#deps.events.publish(SPELL_CREATED_DESTINATION, spellCreatedEvent(spell));
      this.#metrics.eventsPublished.inc();
    } catch (error) {
      this.#metrics.eventsUnpublished.inc();
      this.#deps.log.warn(
        "spell {id} created; its spell.created event waits in the outbox: {error}",
        { id: spell.id, error: describe(error) },
      );
      return;
    }
    try {
      await this.#deps.spells.deleteEvent(eventId);
    } catch (error) {
      // Published but still in the outbox: the relay sends it again (at least once).
      this.#deps.log.warn("spell {id}: event published but not removed from the outbox: {error}", {
        id: spell.id,
        error: describe(error),
      });
    }
  }

  async get(request: HttpRequest): Promise<HttpResponse> {
    const id = parseId(request.params.id);
    if (id === undefined) return notFound(request);
    const cached = await this.#deps.cache.get(id);
    this.#metrics.cacheLookups.inc({ result: cached.result });
    if (cached.result === "hit") {
      return {
        status: 200,
        headers: { "content-type": "application/json", "x-cache": "hit" },
        body: cached.json,
      };
    }
    const spell = await this.#deps.spells.get(id);
    if (spell === undefined) return notFound(request);
    if (cached.result === "miss" && !(await this.#deps.cache.set(spell))) {
      this.#metrics.cacheErrors.inc();
    }
    return json(spell, 200, { "x-cache": cached.result });
  }

  async replace(request: HttpRequest): Promise<HttpResponse> {
    const id = parseId(request.params.id);
    if (id === undefined) return notFound(request);
    const fields = validateFull(await readJson(request));
    if (!fields.ok) return validationProblem(fields.errors, request.target);
    return await this.#changed(
      request,
      id,
      fields.value.name,
      () => this.#deps.spells.replace(id, fields.value),
    );
  }

  async patch(request: HttpRequest): Promise<HttpResponse> {
    const id = parseId(request.params.id);
    if (id === undefined) return notFound(request);
    const fields = validatePatch(await readJson(request));
    if (!fields.ok) return validationProblem(fields.errors, request.target);
    return await this.#changed(
      request,
      id,
      fields.value.name,
      () => this.#deps.spells.patch(id, fields.value),
    );
  }

  /** Runs an update, maps a name conflict to 409, invalidates the cache entry. */
  async #changed(
    request: HttpRequest,
    id: bigint,
    name: string | undefined,
    update: () => Promise<Spell | undefined>,
  ): Promise<HttpResponse> {
    let spell: Spell | undefined;
    try {
      spell = await update();
    } catch (error) {
      const conflict = nameConflict(error, name ?? "");
      if (conflict) return conflict;
      throw error;
    }
    if (spell === undefined) return notFound(request);
    await this.#invalidate(id);
    return json(spell);
  }

  async remove(request: HttpRequest): Promise<HttpResponse> {
    const id = parseId(request.params.id);
    if (id === undefined) return notFound(request);
    const { found, hadImage } = await this.#deps.spells.delete(id);
    if (!found) return notFound(request);
    await this.#invalidate(id);
    if (hadImage) {
      const { s3, bucket } = this.#deps.images;
      await s3.deleteObject(bucket, imageKey(id)).catch((error) =>
        this.#deps.log.warn("spell {id} deleted; its image was not: {error}", {
          id,
          error: describe(error),
        })
      );
    }
    return { status: 204 };
  }

  async putImage(request: HttpRequest): Promise<HttpResponse> {
    const id = parseId(request.params.id);
    if (id === undefined) return notFound(request);
    const contentType = request.headers.get("content-type");
    if (contentType === undefined || !/^image\/[a-z0-9.+-]+/i.test(contentType)) {
      return problem(415, {
        detail: `an image needs Content-Type image/*, got ${contentType?.slice(0, 60) ?? "none"}`,
      });
    }
    if ((await this.#deps.spells.get(id)) === undefined) return notFound(request);
    const { s3, bucket } = this.#deps.images;
    await ensureBucket(this.#deps.images);
    const declared = request.declaredBodyBytes ??
      (request.headers.get("content-length") === undefined
        ? undefined
        : Number(request.headers.get("content-length")));
    // With a length, the body streams through; a chunked upload is read whole (bounded) first.
    const body: Bytes | ReadableStream<Bytes> = declared !== undefined && request.body !== null
      ? request.body
      : await readBody(request, IMAGE_BYTES_MAX);
    if (declared === 0 || (body instanceof Uint8Array && body.length === 0)) {
      return problem(400, { detail: "the image is empty" });
    }
    await s3.putObject(bucket, imageKey(id), body, {
      contentType,
      contentLength: declared,
      metadata: { spell: String(id) },
    });
    const spell = await this.#deps.spells.setImage(id, true);
    if (spell === undefined) {
      // Deleted while the image was uploading: take the image back out.
      await s3.deleteObject(bucket, imageKey(id)).catch(() => {});
      return notFound(request);
    }
    await this.#invalidate(id);
    return json(spell, 200, { location: spell.image! });
  }

  async getImage(request: HttpRequest): Promise<HttpResponse> {
    const id = parseId(request.params.id);
    if (id === undefined) return notFound(request);
    const { s3, bucket } = this.#deps.images;
    let object;
    try {
      object = await s3.getObject(bucket, imageKey(id));
    } catch (error) {
      if (error instanceof S3ClientError && error.code === "NoSuchBucket") object = undefined;
      else throw error;
    }
    if (object === undefined) {
      return problem(404, { detail: `spell ${id} has no image`, instance: request.path });
    }
    const headers: Record<string, string> = {
      "content-type": object.contentType ?? "application/octet-stream",
      "content-length": String(object.contentLength),
      "cache-control": "no-cache",
    };
    if (object.etag !== undefined) headers.etag = object.etag;
    if (request.method === "HEAD") await object.body.cancel();
    return { status: 200, headers, body: request.method === "HEAD" ? null : object.body };
  }

  async #invalidate(id: bigint): Promise<void> {
    if (!(await this.#deps.cache.invalidate(id))) {
      this.#metrics.cacheErrors.inc();
      this.#deps.log.warn(
        "could not invalidate spell {id} in the cache; its TTL bounds staleness",
        {
          id,
        },
      );
    }
  }
}

/** The object key of a spell's image. */
export function imageKey(id: bigint | number): string {
  return `spells/${id}`;
}

const bucketsMade = new WeakSet<ImageStore>();

/** Creates the image bucket once per store (at start, or at the first upload if the store was down). */
export async function ensureBucket(images: ImageStore): Promise<void> {
  if (bucketsMade.has(images)) return;
  await images.s3.createBucket(images.bucket);
  bucketsMade.add(images);
}

function notFound(request: HttpRequest): HttpResponse {
  return problem(404, {
    detail: `no spell at ${request.path.slice(0, 200)}`,
    instance: request.path,
  });
}

function nameConflict(error: unknown, name: string): HttpResponse | undefined {
  if (!(error instanceof PgServerError) || error.code !== UNIQUE_VIOLATION) return undefined;
  return problem(409, {
    type: PROBLEM_TYPES.conflict,
    title: "A spell with this name exists",
    detail: `the name ${JSON.stringify(name)} is taken (names are unique whatever their case)`,
    errors: [{ field: "name", message: "is taken" }],
  });
}

/** /readyz: each dependency with its round trip. */
export async function readiness(deps: ApiDeps): Promise<Record<string, CheckResult>> {
  const timed = async (probe: () => Promise<unknown>): Promise<CheckResult> => {
    const start = performance.now();
    try {
      await probe();
      const latencyMs = Math.round((performance.now() - start) * 100) / 100;
      return { ok: true, detail: `answered in ${latencyMs} ms`, latencyMs } as CheckResult;
    } catch (error) {
      const latencyMs = Math.round((performance.now() - start) * 100) / 100;
      return { ok: false, detail: describe(error), latencyMs } as CheckResult;
    }
  };
  const [datastore, cache, mq, objects] = await Promise.all([
    timed(() => deps.spells.ping()),
    timed(() => deps.cache.ping()),
    timed(() => deps.events.ping()),
    timed(async () => {
      if (!(await deps.images.s3.bucketExists(deps.images.bucket))) await ensureBucket(deps.images);
    }),
  ]);
  return { datastore, cache, mq, objects };
}
