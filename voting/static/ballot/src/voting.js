// The voter's side of RFC 9474 in the browser: the same steps as ballots/client.py.
//
// prepare -> blind -> (save on this device) -> blind-sign -> finalize -> (save) -> cast -> receipt

import { RSABSSA } from "@cloudflare/blindrsa-ts";
import {
  PREFIX_LENGTH,
  b64decode,
  b64urlDecode,
  b64urlEncode,
  canonicalBallot,
  concatBytes,
  newNonce,
  toHex,
  toUtf8,
} from "./encoding.js";

const MIN_KEY_BITS = 2048;
const REQUEST_TIMEOUT_MS = 60000;
const STORAGE_PREFIX = "kongressval.v1.";
const RECEIPT_PREFIX = `${STORAGE_PREFIX}receipt.`;

/** Whether an ISO time `until` (or nothing) has passed at `now` (milliseconds). */
function past(until, now) {
  const limit = Date.parse(until);
  return Number.isFinite(limit) && now > limit;
}

/**
 * Remove every stored receipt, of any election or member, whose keeping time has passed.
 * Why all of them: a receipt shows the vote after the close; a shared device must not keep it
 * for the next user, even when its member never opens their ballot page again.
 */
export function forgetExpiredReceipts(now = Date.now()) {
  try {
    const storage = window.localStorage;
    for (let i = storage.length - 1; i >= 0; i -= 1) {
      const key = storage.key(i);
      if (!key || !key.startsWith(RECEIPT_PREFIX)) continue;
      const entry = VoteStore.read(key);
      if (entry && past(entry.forget_after, now)) storage.removeItem(key);
    }
  } catch {
    // Storage unavailable: nothing is kept there either.
  }
}

/** A failure the page explains to the voter; `kind` picks the message. */
export class VoteError extends Error {
  constructor(kind, { status = null, serverMessage = "", cause = null } = {}) {
    super(`${kind}${status ? ` (HTTP ${status})` : ""}${serverMessage ? `: ${serverMessage}` : ""}`);
    this.name = "VoteError";
    this.kind = kind;
    this.status = status;
    this.serverMessage = serverMessage;
    this.cause = cause;
  }
}

/** The pending vote and the receipt of one contest, in localStorage. */
export class VoteStore {
  constructor(election, contest, storageId = "", forgetAfter = "") {
    // storageId is per member: two members sharing a browser never see each other's vote.
    const id = JSON.stringify([election, contest, storageId]);
    this.pendingKey = `${STORAGE_PREFIX}pending.${id}`;
    this.receiptKey = `${RECEIPT_PREFIX}${id}`;
    this.forgetAfter = forgetAfter; // when the receipt is removed: some days after the close
  }

  static read(key) {
    try {
      const text = window.localStorage.getItem(key);
      return text ? JSON.parse(text) : null;
    } catch {
      return null;
    }
  }

  static write(key, value) {
    try {
      window.localStorage.setItem(key, JSON.stringify(value));
      // Why read back: a full or disabled storage may fail silently in some browsers.
      return window.localStorage.getItem(key) === JSON.stringify(value);
    } catch {
      return false;
    }
  }

  static remove(key) {
    try {
      window.localStorage.removeItem(key);
    } catch {
      // Nothing to do: the entry is gone or storage is unavailable.
    }
  }

  loadPending() {
    const pending = VoteStore.read(this.pendingKey);
    const ok =
      pending &&
      typeof pending.ballot === "string" &&
      typeof pending.msg_prefix === "string" &&
      typeof pending.blinded_msg === "string" &&
      typeof pending.inv === "string";
    return ok ? pending : null;
  }

  savePending(pending) {
    return VoteStore.write(this.pendingKey, pending);
  }

  clearPending() {
    VoteStore.remove(this.pendingKey);
  }

  /** The stored receipt as the server gave it, or null; one past its keeping time is removed. */
  loadReceipt(now = Date.now()) {
    const stored = VoteStore.read(this.receiptKey);
    if (!stored || typeof stored.ballot_hash !== "string") return null;
    // A receipt saved before keeping times existed has none of its own: the page's applies.
    if (past(stored.forget_after || this.forgetAfter, now)) {
      this.forgetReceipt();
      return null;
    }
    const { forget_after: _ignored, ...receipt } = stored;
    return receipt;
  }

  saveReceipt(receipt) {
    const entry = this.forgetAfter ? { ...receipt, forget_after: this.forgetAfter } : receipt;
    return VoteStore.write(this.receiptKey, entry);
  }

  forgetReceipt() {
    VoteStore.remove(this.receiptKey);
  }
}

async function request(url, init) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
  let response;
  try {
    response = await fetch(url, { ...init, signal: controller.signal, cache: "no-store" });
  } catch (cause) {
    throw new VoteError("network", { cause });
  } finally {
    clearTimeout(timer);
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  return { status: response.status, ok: response.ok, data };
}

function httpError(status, data, { conflictKind = "rejected" } = {}) {
  const serverMessage = data && typeof data.message === "string" ? data.message : "";
  let kind = "rejected";
  if (status >= 500 || status === 429 || status === 408) kind = "server";
  else if (status === 409) kind = conflictKind;
  else if (status === 403) kind = "forbidden";
  else if (status === 401 || (data && data.error === "csrf")) kind = "session";
  return new VoteError(kind, { status, serverMessage });
}

function decodeField(value, field) {
  try {
    return b64urlDecode(value);
  } catch (cause) {
    throw new VoteError("crypto", { serverMessage: `${field}: ${cause.message}`, cause });
  }
}

/** One voter in one contest: the page's configuration and the protocol steps. */
export class Voter {
  constructor({ election, contest, storageId, forgetAfter, manifestUrl, signUrl, castUrl, csrfToken }) {
    this.election = election;
    this.contest = contest;
    this.manifestUrl = manifestUrl;
    this.signUrl = signUrl;
    this.castUrl = castUrl;
    this.csrfToken = csrfToken;
    this.store = new VoteStore(election, contest, storageId, forgetAfter);
    this.suite = RSABSSA.SHA384.PSS.Randomized();
    this.contestInfo = null;
    this.lastPending = null; // the newest pending vote, in case storage refused it
  }

  /** Whether this browser has what blinding needs (WebCrypto exists only in secure contexts). */
  static supported() {
    return Boolean(window.crypto && window.crypto.subtle && window.fetch && window.TextEncoder);
  }

  /** The contest from the manifest, with its public key imported; fetched once. */
  async contestFromManifest() {
    if (this.contestInfo) return this.contestInfo;
    const { status, ok, data } = await request(this.manifestUrl, {
      method: "GET",
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    if (!ok) throw httpError(status, data);
    const item =
      data && data.election === this.election && Array.isArray(data.contests)
        ? data.contests.find((c) => String(c.id) === this.contest)
        : null;
    if (!item) throw new VoteError("manifest");
    let key;
    try {
      key = await crypto.subtle.importKey(
        "spki",
        b64decode(item.public_key_spki),
        { name: "RSA-PSS", hash: "SHA-384" },
        true, // blindrsa-ts reads n and e through exportKey("jwk")
        ["verify"],
      );
    } catch (cause) {
      throw new VoteError("manifest", { cause });
    }
    if (key.algorithm.modulusLength < MIN_KEY_BITS) throw new VoteError("manifest");
    const seats = item.seats;
    this.contestInfo = {
      key,
      candidateIds: new Set((item.candidates || []).map((c) => String(c.id))),
      min: item.min_selections ?? seats,
      max: item.max_selections ?? seats,
    };
    return this.contestInfo;
  }

  /**
   * Build, blind and SAVE a ballot for these candidate ids; returns the pending vote.
   * Nothing is sent to the server here.
   */
  async prepare(choices) {
    // Why: another tab may hold an unsent vote; overwriting it could lose a signed ballot.
    if (this.store.loadPending()) throw new VoteError("pending_exists");
    const info = await this.contestFromManifest();
    // Why: one signature per member, ever; a ballot the server would refuse must be caught
    // before that signature is spent on it.
    if (choices.some((id) => !info.candidateIds.has(id))) throw new VoteError("manifest");
    if (choices.length < info.min || choices.length > info.max) throw new VoteError("rule");
    const ballot = canonicalBallot(this.election, this.contest, choices, newNonce());
    let inputMsg;
    let blinded;
    try {
      inputMsg = this.suite.prepare(toUtf8(ballot));
      blinded = await this.suite.blind(info.key, inputMsg);
    } catch (cause) {
      throw new VoteError("crypto", { cause });
    }
    const pending = {
      v: 1,
      election: this.election,
      contest: this.contest,
      ballot,
      msg_prefix: b64urlEncode(inputMsg.subarray(0, PREFIX_LENGTH)),
      blinded_msg: b64urlEncode(blinded.blindedMsg),
      inv: b64urlEncode(blinded.inv),
    };
    // Why save first: once the server has signed, that signature is the member's only one;
    // without the blinding factor on this device a lost answer would lose the vote.
    if (!this.store.savePending(pending)) throw new VoteError("storage");
    this.lastPending = pending;
    return pending;
  }

  /** Sign (if not yet signed), cast and check the receipt; resumable from any failure. */
  async complete(pending, onProgress = () => {}) {
    const info = await this.contestFromManifest();
    const inputMsg = concatBytes(decodeField(pending.msg_prefix, "msg_prefix"), toUtf8(pending.ballot));
    let current = pending;
    this.lastPending = current;
    if (!current.signature) {
      onProgress("sign");
      let blindSig;
      try {
        blindSig = await this.requestBlindSignature(current.blinded_msg);
      } catch (error) {
        if (error.kind === "conflict") this.forget(current);
        throw error;
      }
      let signature;
      try {
        // finalize checks the unblinded signature against the contest key (RSASSA-PSS verify).
        signature = await this.suite.finalize(info.key, inputMsg, blindSig, decodeField(current.inv, "inv"));
      } catch (cause) {
        throw new VoteError("crypto", { cause });
      }
      current = { ...current, signature: b64urlEncode(signature) };
      this.lastPending = current;
      // A failed save is not fatal here: the cast follows at once and the page keeps `current`.
      this.store.savePending(current);
    }
    onProgress("cast");
    const receipt = await this.cast(current, inputMsg);
    // Why this order: the receipt is stored before the pending vote is forgotten.
    this.store.saveReceipt(receipt);
    this.store.clearPending();
    this.lastPending = null;
    return { receipt, pending: current };
  }

  /** Drop a pending vote the server will never sign (it signed another for this member). */
  forget(pending) {
    const stored = this.store.loadPending();
    if (stored && stored.blinded_msg === pending.blinded_msg) this.store.clearPending();
    this.lastPending = null;
  }

  /** POST the blinded message with the voter's session; the blind signature bytes. */
  async requestBlindSignature(blindedMsg) {
    const { status, ok, data } = await request(this.signUrl, {
      method: "POST",
      headers: {
        Accept: "application/json",
        "Content-Type": "application/json",
        "X-CSRFToken": this.csrfToken,
      },
      credentials: "same-origin",
      body: JSON.stringify({ blinded_msg: blindedMsg }),
    });
    if (!ok) throw httpError(status, data, { conflictKind: "conflict" });
    if (!data || typeof data.blind_sig !== "string") throw new VoteError("server", { status });
    return decodeField(data.blind_sig, "blind_sig");
  }

  /** POST the signed ballot anonymously and check the receipt against our own hash. */
  async cast(pending, inputMsg) {
    const { status, data } = await request(this.castUrl, {
      method: "POST",
      headers: { Accept: "application/json", "Content-Type": "application/json" },
      // Why omit: the cast must carry nothing (cookie, CSRF token) that links it to the voter.
      credentials: "omit",
      referrerPolicy: "no-referrer",
      body: JSON.stringify({
        ballot: pending.ballot,
        msg_prefix: pending.msg_prefix,
        signature: pending.signature,
      }),
    });
    if (status !== 200 && status !== 201) throw httpError(status, data);
    const receipt = data && data.receipt;
    const expected = toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", inputMsg)));
    // Why: only a receipt for exactly our bytes proves the server stored this ballot.
    if (
      !receipt ||
      receipt.ballot_hash !== expected ||
      String(receipt.contest) !== this.contest ||
      receipt.election !== this.election
    ) {
      throw new VoteError("receipt", { status });
    }
    return receipt;
  }
}
