// Byte encodings and the canonical ballot, byte for byte as ballots/ballot.py builds them.

export const NONCE_LENGTH = 16;
export const PREFIX_LENGTH = 32;
export const BALLOT_VERSION = 1;

const utf8 = new TextEncoder();

/** UTF-8 bytes of a string. */
export function toUtf8(text) {
  return utf8.encode(text);
}

function bytesToBinary(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return binary;
}

/** Standard base64 (with padding) to bytes; throws on anything else. */
export function b64decode(text) {
  if (typeof text !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
    throw new Error("not standard base64");
  }
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Unpadded base64url (RFC 4648 section 5) of bytes. */
export function b64urlEncode(bytes) {
  return btoa(bytesToBinary(bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Strict unpadded base64url to bytes; refuses padding, other alphabets and stray bits. */
export function b64urlDecode(text) {
  if (typeof text !== "string" || !/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) {
    throw new Error("not unpadded base64url");
  }
  const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  const bytes = b64decode(padded);
  // Why: one value has one spelling, as on the server; a lenient decode could hide corruption.
  if (b64urlEncode(bytes) !== text) throw new Error("non-canonical base64url");
  return bytes;
}

/** Lower-case hex of bytes. */
export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** a || b as one new array. */
export function concatBytes(a, b) {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** Compare strings by Unicode code point, as Python's sorted() does (not by UTF-16 unit). */
export function compareCodePoints(a, b) {
  const x = Array.from(a, (c) => c.codePointAt(0));
  const y = Array.from(b, (c) => c.codePointAt(0));
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return x.length - y.length;
}

/** A fresh ballot nonce: 16 random bytes, unpadded base64url. */
export function newNonce() {
  // Why: the nonce makes equal choices different ballots, so the open board's hashes do not
  // show how many voted alike.
  return b64urlEncode(crypto.getRandomValues(new Uint8Array(NONCE_LENGTH)));
}

/**
 * The canonical ballot text: {"choices":[...],"contest":...,"election":...,"nonce":...,"v":1}
 * with sorted keys, no whitespace, choices sorted by code point. JSON.stringify escapes strings
 * exactly as Python's json.dumps(ensure_ascii=False) does for well-formed text.
 */
export function canonicalBallot(election, contest, choices, nonce) {
  for (const value of [election, contest, nonce, ...choices]) {
    if (typeof value !== "string") {
      throw new Error("ballot fields must be strings");
    }
    // Why: a lone surrogate has no UTF-8 form; Python would refuse the ballot.
    if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(value)) {
      throw new Error("ballot fields must be well-formed Unicode");
    }
  }
  if (new Set(choices).size !== choices.length) throw new Error("a candidate is named twice");
  // Key order of this literal is the sorted order; JSON.stringify keeps insertion order.
  const body = {
    choices: [...choices].sort(compareCodePoints),
    contest,
    election,
    nonce,
    v: BALLOT_VERSION,
  };
  return JSON.stringify(body);
}
