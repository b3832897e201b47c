// The XML S3 speaks: building response documents, and reading the few
// request bodies S3 takes (CreateBucketConfiguration, Delete,
// CompleteMultipartUpload). Pure: no I/O.
//
// The reader is deliberately small: elements, text, entity and character
// references, the XML declaration, comments and processing instructions.
// It refuses DOCTYPE (no entity expansion, so no "billion laughs"), CDATA is
// accepted as text, and depth and element count are bounded. Namespaces are
// kept in names as written; callers match on the local name.

export const S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/";

/** Escapes text for element content and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&apos;",
};

/** `<name>text</name>`, text escaped. */
export function xmlElement(name: string, text: string | number | boolean): string {
  return `<${name}>${escapeXml(String(text))}</${name}>`;
}

/** `<name>children</name>`, children already XML. */
export function xmlParent(name: string, children: readonly string[]): string {
  return `<${name}>${children.join("")}</${name}>`;
}

/** A whole document with its declaration; the root carries S3's namespace unless told. */
export function xmlDocument(
  root: string,
  children: readonly string[],
  options: { namespace?: boolean } = {},
): string {
  const ns = options.namespace === false ? "" : ` xmlns="${S3_NAMESPACE}"`;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${root}${ns}>${children.join("")}</${root}>`;
}

/** A parsed element: its local name, its child elements and its text. */
export interface XmlNode {
  readonly name: string;
  readonly children: XmlNode[];
  text: string;
}

export interface XmlLimits {
  depthMax: number;
  elementsMax: number;
}

/** DeleteObjects takes 1000 keys with a few elements each. */
export const XML_LIMITS: XmlLimits = { depthMax: 16, elementsMax: 20_000 };

/** Thrown for a body that is not the small XML S3 accepts. */
export class XmlSyntaxError extends SyntaxError {
  override name = "XmlSyntaxError";
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function decodeText(raw: string): string {
  return raw.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);|&/g, (match, ref: string | undefined) => {
    if (ref === undefined) throw new XmlSyntaxError("bare & in text");
    if (ref.startsWith("#x")) return String.fromCodePoint(parseCodePoint(ref.slice(2), 16));
    if (ref.startsWith("#")) return String.fromCodePoint(parseCodePoint(ref.slice(1), 10));
    const value = ENTITIES[ref];
    if (value === undefined) throw new XmlSyntaxError(`unknown entity ${match}`);
    return value;
  });
}

function parseCodePoint(digits: string, radix: number): number {
  const code = parseInt(digits, radix);
  if (!(code >= 0 && code <= 0x10ffff)) throw new XmlSyntaxError("bad character reference");
  return code;
}

function localName(qualified: string): string {
  const colon = qualified.indexOf(":");
  return colon === -1 ? qualified : qualified.slice(colon + 1);
}

const NAME = /^[A-Za-z_][\w.:-]*/;

/** Parses a document and returns its root element. */
export function parseXml(source: string, limits: XmlLimits = XML_LIMITS): XmlNode {
  const stack: XmlNode[] = [];
  let root: XmlNode | undefined;
  let elements = 0;
  let i = 0;
  while (i < source.length) {
    const lt = source.indexOf("<", i);
    const textEnd = lt === -1 ? source.length : lt;
    if (textEnd > i) {
      const raw = source.slice(i, textEnd);
      if (stack.length > 0) stack[stack.length - 1].text += decodeText(raw);
      else if (raw.trim() !== "") throw new XmlSyntaxError("text outside the root element");
    }
    if (lt === -1) break;
    if (source.startsWith("<?", lt)) {
      const end = source.indexOf("?>", lt);
      if (end === -1) throw new XmlSyntaxError("unterminated processing instruction");
      i = end + 2;
    } else if (source.startsWith("<!--", lt)) {
      const end = source.indexOf("-->", lt);
      if (end === -1) throw new XmlSyntaxError("unterminated comment");
      i = end + 3;
    } else if (source.startsWith("<![CDATA[", lt)) {
      const end = source.indexOf("]]>", lt);
      if (end === -1 || stack.length === 0) throw new XmlSyntaxError("bad CDATA section");
      stack[stack.length - 1].text += source.slice(lt + 9, end);
      i = end + 3;
    } else if (source.startsWith("<!", lt)) {
      throw new XmlSyntaxError("DOCTYPE and declarations are not accepted");
    } else if (source.startsWith("</", lt)) {
      const end = source.indexOf(">", lt);
      if (end === -1) throw new XmlSyntaxError("unterminated end tag");
      const name = localName(source.slice(lt + 2, end).trim());
      const open = stack.pop();
      if (open === undefined || open.name !== name) {
        throw new XmlSyntaxError(`unexpected </${name.slice(0, 40)}>`);
      }
      i = end + 1;
    } else {
      const end = source.indexOf(">", lt);
      if (end === -1) throw new XmlSyntaxError("unterminated start tag");
      let inside = source.slice(lt + 1, end);
      const selfClosing = inside.endsWith("/");
      if (selfClosing) inside = inside.slice(0, -1);
      const match = NAME.exec(inside);
      if (match === null) throw new XmlSyntaxError("bad element name");
      if (++elements > limits.elementsMax) throw new XmlSyntaxError("too many elements");
      if (stack.length >= limits.depthMax) throw new XmlSyntaxError("nested too deeply");
      if (root !== undefined && stack.length === 0) {
        throw new XmlSyntaxError("more than one root element");
      }
      const node: XmlNode = { name: localName(match[0]), children: [], text: "" };
      if (stack.length > 0) stack[stack.length - 1].children.push(node);
      else root = node;
      if (!selfClosing) stack.push(node);
      i = end + 1;
    }
  }
  if (root === undefined) throw new XmlSyntaxError("no root element");
  if (stack.length > 0) throw new XmlSyntaxError(`unclosed <${stack[stack.length - 1].name}>`);
  return root;
}

/** The first child named `name`, or undefined. */
export function child(node: XmlNode, name: string): XmlNode | undefined {
  return node.children.find((c) => c.name === name);
}

/** Every child named `name`. */
export function children(node: XmlNode, name: string): XmlNode[] {
  return node.children.filter((c) => c.name === name);
}
