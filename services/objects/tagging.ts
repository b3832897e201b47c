// Object tagging (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-tagging.html):
// up to 10 key/value pairs per object, set with the `x-amz-tagging` header
// on PutObject, CreateMultipartUpload and CopyObject (REPLACE directive), or
// replaced whole by PUT ?tagging; read by GET ?tagging and counted in
// `x-amz-tagging-count` on GET and HEAD.
//
// Stored with the object's headers under TAGGING_HEADER, in the header's own
// form (URL-encoded query parameters), so tags travel with the object through
// the one trailer that publishes it atomically, and through multipart
// uploads and copies, with no second file to keep in step. The handlers
// never send that stored header back as it is.
//
// Pure: parsing, checking and encoding only.

import { S3Error } from "../../lib/s3/errors.ts";
import { child, children, xmlElement, type XmlNode, xmlParent } from "../../lib/s3/xml.ts";

/** The stored header holding an object's tags. */
export const TAGGING_HEADER = "x-amz-tagging";
/** S3's bounds on a tag set. */
export const TAGS_MAX = 10;
export const TAG_KEY_CHARS_MAX = 128;
export const TAG_VALUE_CHARS_MAX = 256;

export type Tag = readonly [key: string, value: string];

/** Letters, digits and spaces in any script, and `+ - = . _ : / @`, as S3 allows. */
const TAG_TEXT = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;

function invalidTag(message: string): S3Error {
  return new S3Error("InvalidTag", message);
}

/** Checks a tag set against S3's rules; throws InvalidTag. */
export function checkTags(tags: readonly Tag[]): void {
  if (tags.length > TAGS_MAX) {
    throw invalidTag(`Object tags cannot be greater than ${TAGS_MAX}`);
  }
  const seen = new Set<string>();
  for (const [key, value] of tags) {
    const keyChars = [...key].length;
    if (keyChars === 0 || keyChars > TAG_KEY_CHARS_MAX || !TAG_TEXT.test(key)) {
      throw invalidTag("The TagKey you have provided is invalid");
    }
    if ([...value].length > TAG_VALUE_CHARS_MAX || !TAG_TEXT.test(value)) {
      throw invalidTag("The TagValue you have provided is invalid");
    }
    if (seen.has(key)) throw invalidTag("Cannot provide multiple Tags with the same key");
    seen.add(key);
  }
}

/**
 * The `x-amz-tagging` header: `k1=v1&k2=v2`, URL-encoded (`+` is a space,
 * as boto3 sends it). A bad encoding or a repeated key is InvalidArgument,
 * as S3 answers for the header; a rule broken by a tag is InvalidTag.
 */
export function parseTaggingHeader(value: string): Tag[] {
  const tags: Tag[] = [];
  const keys = new Set<string>();
  for (const part of value.split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const key = decodeComponent(eq === -1 ? part : part.slice(0, eq));
    const text = eq === -1 ? "" : decodeComponent(part.slice(eq + 1));
    if (keys.has(key)) throw badTaggingHeader();
    keys.add(key);
    tags.push([key, text]);
  }
  checkTags(tags);
  return tags;
}

function decodeComponent(text: string): string {
  try {
    return decodeURIComponent(text.replaceAll("+", " "));
  } catch {
    throw badTaggingHeader();
  }
}

function badTaggingHeader(): S3Error {
  return new S3Error(
    "InvalidArgument",
    "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.",
    { ArgumentName: "x-amz-tagging" },
  );
}

/** The stored form of a tag set (empty: no header at all). */
export function encodeTagging(tags: readonly Tag[]): string {
  return tags.map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`)
    .join("&");
}

/** The tags stored in an object's headers (none when it has no tagging header). */
export function storedTags(headers: Readonly<Record<string, string>>): Tag[] {
  const stored = headers[TAGGING_HEADER];
  return stored === undefined || stored === "" ? [] : parseTaggingHeader(stored);
}

/** Headers with the tag set replaced (removed when empty). */
export function withTags(
  headers: Readonly<Record<string, string>>,
  tags: readonly Tag[],
): Record<string, string> {
  const out = { ...headers };
  if (tags.length === 0) delete out[TAGGING_HEADER];
  else out[TAGGING_HEADER] = encodeTagging(tags);
  return out;
}

/** The body of PUT ?tagging: `<Tagging><TagSet><Tag><Key/><Value/></Tag>...`. */
export function parseTaggingXml(root: XmlNode): Tag[] {
  const set = root.name === "Tagging" ? child(root, "TagSet") : undefined;
  if (set === undefined) throw malformedTagging();
  const tags: Tag[] = [];
  for (const tag of children(set, "Tag")) {
    const key = child(tag, "Key")?.text;
    const value = child(tag, "Value")?.text;
    if (key === undefined || value === undefined) throw malformedTagging();
    tags.push([key, value]);
  }
  checkTags(tags);
  return tags;
}

function malformedTagging(): S3Error {
  return new S3Error(
    "MalformedXML",
    "The XML you provided was not well-formed or did not validate against our published schema",
  );
}

/** The TagSet element of GET ?tagging. */
export function tagSetXml(tags: readonly Tag[]): string {
  return xmlParent(
    "TagSet",
    tags.map(([key, value]) =>
      xmlParent("Tag", [xmlElement("Key", key), xmlElement("Value", value)])
    ),
  );
}
