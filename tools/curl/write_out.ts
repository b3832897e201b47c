// curl's `-w, --write-out FORMAT` (curl's manual, "--write-out"): `%{name}`
// variables, `%%` for a percent sign, and the escapes `\n`, `\r`, `\t`,
// `\\`. Times are seconds with six decimals, from the start of the
// transfer, as curl prints them. Pure.

/** The values one transfer gives the variables. */
export interface WriteOutValues {
  /** The last response's status, 0 when there was none (printed 000). */
  httpCode: number;
  urlEffective: string;
  numRedirects: number;
  contentType: string;
  remoteIp: string;
  remotePort: number;
  sizeDownload: number;
  sizeHeader: number;
  sizeUpload: number;
  /** Seconds from the start of the transfer; with -L, the last exchange's (docs/http.md). */
  timeNamelookup: number;
  timeConnect: number;
  timeAppconnect: number;
  timePretransfer: number;
  timeStarttransfer: number;
  timeRedirect: number;
  timeTotal: number;
}

type Variable = (v: WriteOutValues) => string;

const seconds = (s: number) => s.toFixed(6);

/** Every variable this curl knows, by curl's name. */
export const VARIABLES: Readonly<Record<string, Variable>> = {
  http_code: (v) => String(v.httpCode).padStart(3, "0"),
  response_code: (v) => String(v.httpCode).padStart(3, "0"),
  url_effective: (v) => v.urlEffective,
  num_redirects: (v) => String(v.numRedirects),
  content_type: (v) => v.contentType,
  remote_ip: (v) => v.remoteIp,
  remote_port: (v) => String(v.remotePort),
  size_download: (v) => String(v.sizeDownload),
  size_header: (v) => String(v.sizeHeader),
  size_upload: (v) => String(v.sizeUpload),
  time_namelookup: (v) => seconds(v.timeNamelookup),
  time_connect: (v) => seconds(v.timeConnect),
  time_appconnect: (v) => seconds(v.timeAppconnect),
  time_pretransfer: (v) => seconds(v.timePretransfer),
  time_starttransfer: (v) => seconds(v.timeStarttransfer),
  time_redirect: (v) => seconds(v.timeRedirect),
  time_total: (v) => seconds(v.timeTotal),
};

const ESCAPES: Readonly<Record<string, string>> = { n: "\n", r: "\r", t: "\t", "\\": "\\" };

/** The format with its variables filled in; unknown ones are reported through `onUnknown`. */
export function formatWriteOut(
  format: string,
  values: WriteOutValues,
  onUnknown: (name: string) => void = () => {},
): string {
  let out = "";
  for (let i = 0; i < format.length; i++) {
    const char = format[i];
    if (char === "%" && format[i + 1] === "%") {
      out += "%";
      i++;
    } else if (char === "%" && format[i + 1] === "{") {
      const close = format.indexOf("}", i + 2);
      if (close === -1) {
        out += format.slice(i);
        break;
      }
      const name = format.slice(i + 2, close);
      const variable = Object.hasOwn(VARIABLES, name) ? VARIABLES[name] : undefined;
      if (variable === undefined) onUnknown(name);
      else out += variable(values);
      i = close;
    } else if (char === "\\" && format[i + 1] !== undefined && format[i + 1] in ESCAPES) {
      out += ESCAPES[format[i + 1]];
      i++;
    } else {
      out += char;
    }
  }
  return out;
}
