// The ballot page: choose, review, cast, receipt; and resuming a vote saved on this device.
// Every text shown comes from the template (<template id="ballot-messages">), so it is translated.

import { Voter, VoteError, forgetExpiredReceipts } from "./voting.js";

const STEPS = ["step-resume", "step-choose", "step-review", "step-cast", "step-receipt"];
// The board page (voting/static/ballot/board.js) looks up the hash left here, once. Why
// sessionStorage and not the URL: an address lands in the browser's history and in request
// logs; this stays in the tab and never reaches a server.
const LOOKUP_KEY = "kongressval.v1.lookup";

class Messages {
  constructor(template) {
    this.texts = new Map();
    if (template) {
      for (const el of template.content.querySelectorAll("[data-key]")) {
        this.texts.set(el.dataset.key, el.textContent.trim().replace(/\s+/g, " "));
      }
    }
  }

  /** The text for `key` with {placeholders} filled in. */
  get(key, vars = {}) {
    const text = this.texts.get(key) ?? key;
    return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
  }
}

function byId(id) {
  return document.getElementById(id);
}

function readCandidates() {
  const block = byId("ballot-candidates");
  const names = new Map();
  if (!block) return names;
  try {
    for (const c of JSON.parse(block.textContent)) names.set(String(c.id), String(c.name));
  } catch {
    // Without names the page shows the ids; voting still works.
  }
  return names;
}

function fillList(list, items) {
  list.replaceChildren(
    ...items.map((text) => {
      const li = document.createElement("li");
      li.textContent = text;
      return li;
    }),
  );
}

function choicesOf(ballot) {
  try {
    const parsed = JSON.parse(ballot);
    return Array.isArray(parsed.choices) ? parsed.choices.map(String) : [];
  } catch {
    return [];
  }
}

/** Wire up the page under `root` (the element carrying the data-* configuration). */
export function startBallotPage(root) {
  const cfg = root.dataset;
  const messages = new Messages(byId("ballot-messages"));
  const names = readCandidates();
  const votingOpen = cfg.votingOpen === "true";
  const issued = cfg.issued === "true";
  const min = Number(cfg.min);
  const max = Number(cfg.max);
  const nameOf = (id) => names.get(id) ?? id;
  const pageTitle = cfg.pageTitle || document.title;
  const mainHeading = byId("ballot-heading");
  const ballotHeading = mainHeading ? mainHeading.textContent : "";

  forgetExpiredReceipts();
  if (!Voter.supported()) {
    byId("ballot-unsupported").hidden = false;
    return;
  }
  const voter = new Voter({
    election: cfg.election,
    contest: cfg.contest,
    storageId: cfg.storageId,
    forgetAfter: cfg.forgetAfter,
    manifestUrl: cfg.manifestUrl,
    signUrl: cfg.signUrl,
    castUrl: cfg.castUrl,
    csrfToken: cfg.csrfToken,
  });

  function showStep(id, { focus = true } = {}) {
    for (const step of STEPS) {
      const el = byId(step);
      if (el) el.hidden = step !== id;
    }
    let heading = byId(`${id}-heading`);
    // The receipt is the page's message: "Din röst är registrerad" becomes its heading and title.
    const done = id === "step-receipt";
    if (mainHeading) mainHeading.textContent = done ? messages.get("done_heading") : ballotHeading;
    if (done && mainHeading) heading = mainHeading;
    // Why: the title is what a screen reader reads first and what a tab shows; it follows the step.
    if (heading) document.title = `${heading.textContent.trim()} – ${pageTitle}`;
    // Why: moving focus to the new step's heading tells screen-reader users the page changed.
    if (focus && heading) heading.focus();
  }

  // --- Step 1: choose -------------------------------------------------------------------
  const form = byId("choose-form");
  const boxes = form ? Array.from(form.querySelectorAll('input[type="checkbox"][name="choice"]')) : [];
  const counter = byId("choose-counter");
  const chooseError = byId("choose-error");
  const chosen = () => boxes.filter((box) => box.checked).map((box) => box.value);

  function ruleMessage(count) {
    if (count >= min && count <= max) return "";
    if (min === max) return messages.get("rule_exact", { count, min, max });
    return messages.get(count < min ? "rule_too_few" : "rule_too_many", { count, min, max });
  }

  function updateCounter() {
    const count = chosen().length;
    const key = min === max ? "counter_exact" : "counter_range";
    let text = messages.get(key, { count, min, max });
    if (count > max) text += ` ${messages.get("counter_over", { count, min, max })}`;
    counter.textContent = text;
    // A shown error goes away as soon as the selection keeps the rule.
    if (chooseError.textContent && !ruleMessage(count)) chooseError.textContent = "";
  }

  if (form) {
    for (const box of boxes) box.addEventListener("change", updateCounter);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const ids = chosen();
      const problem = ruleMessage(ids.length);
      chooseError.textContent = problem;
      if (problem) return;
      fillList(byId("review-choices"), ids.map(nameOf));
      showStep("step-review");
    });
    byId("review-change").addEventListener("click", () => showStep("step-choose"));
    byId("review-cast").addEventListener("click", () => castNew(chosen()));
    updateCounter();
  }

  // --- Step 3: cast ---------------------------------------------------------------------
  const castStatus = byId("cast-status");
  const castError = byId("cast-error");
  const retryBox = byId("cast-retry");
  let busy = false;
  let lastChoices = null;

  function progress(stage) {
    castStatus.textContent = messages.get(`progress_${stage}`);
  }

  function showError(error) {
    const parts = [];
    const kind = error instanceof VoteError ? error.kind : "unexpected";
    parts.push(messages.get(`error_${kind}`, { status: error.status ?? "" }));
    if (error instanceof VoteError && error.serverMessage && error.status) {
      parts.push(messages.get("server_said", { message: error.serverMessage }));
    }
    // A conflicting vote was already forgotten by the Voter; another tab's vote is not ours.
    const saved = voter.store.loadPending() || voter.lastPending;
    const final = kind === "conflict" || kind === "pending_exists";
    if (saved && !final) parts.push(messages.get("saved_note"));
    castStatus.textContent = "";
    castError.replaceChildren(
      ...parts.map((text) => {
        const p = document.createElement("p");
        p.textContent = text;
        return p;
      }),
    );
    retryBox.hidden = final;
    if (!(error instanceof VoteError)) console.error(error);
  }

  async function run(work) {
    if (busy) return;
    busy = true;
    castError.replaceChildren();
    retryBox.hidden = true;
    showStep("step-cast");
    try {
      const pending = await work();
      const { receipt } = await voter.complete(pending, progress);
      showReceipt(receipt);
    } catch (error) {
      showError(error);
    } finally {
      busy = false;
    }
  }

  function castNew(ids) {
    lastChoices = ids;
    return run(() => {
      progress("prepare");
      return voter.prepare(ids);
    });
  }

  function resend() {
    const pending = voter.store.loadPending() || voter.lastPending;
    if (pending) return run(async () => pending);
    // Nothing was saved (the failure came before blinding): start this ballot afresh.
    if (lastChoices) return castNew(lastChoices);
    return undefined;
  }

  byId("cast-retry-button").addEventListener("click", resend);
  byId("resume-button").addEventListener("click", resend);

  // --- Step 4: receipt ------------------------------------------------------------------
  let receiptUrl = null;
  let shownReceipt = null;

  byId("receipt-board").addEventListener("click", () => {
    if (!shownReceipt) return;
    try {
      window.sessionStorage.setItem(
        LOOKUP_KEY,
        JSON.stringify({ election: cfg.election, hash: shownReceipt.ballot_hash }),
      );
    } catch {
      // Without sessionStorage the board opens with an empty search box; nothing is lost.
    }
  });

  byId("receipt-forget").addEventListener("click", () => {
    voter.store.forgetReceipt();
    shownReceipt = null;
    byId("receipt-hash").textContent = "";
    if (receiptUrl) URL.revokeObjectURL(receiptUrl);
    receiptUrl = null;
    byId("receipt-details").hidden = true;
    byId("receipt-forgotten").textContent = messages.get("forgotten");
  });

  function showReceipt(receipt, { focus = true } = {}) {
    shownReceipt = receipt;
    byId("receipt-details").hidden = false;
    byId("receipt-forgotten").textContent = "";
    byId("receipt-hash").textContent = receipt.ballot_hash;
    const blob = new Blob([`${JSON.stringify(receipt, null, 2)}\n`], { type: "application/json" });
    if (receiptUrl) URL.revokeObjectURL(receiptUrl);
    receiptUrl = URL.createObjectURL(blob);
    const link = byId("receipt-download");
    link.href = receiptUrl;
    const safe = (text) => String(text).replace(/[^A-Za-z0-9_-]+/g, "_");
    link.download = `kvitto-${safe(cfg.election)}-${safe(cfg.contest)}.json`;
    showStep("step-receipt", { focus });
  }

  // --- On load --------------------------------------------------------------------------
  const pending = voter.store.loadPending();
  if (pending && pending.election === cfg.election && pending.contest === cfg.contest) {
    fillList(byId("resume-choices"), choicesOf(pending.ballot).map(nameOf));
    // The server may have signed already, but this saved vote is not in yet: "Du har röstat"
    // would be wrong; the resume step says what is the case.
    const issuedNotice = byId("issued-notice");
    if (issuedNotice) issuedNotice.hidden = true;
    byId("resume-closed").hidden = votingOpen;
    byId("resume-actions").hidden = !votingOpen;
    showStep("step-resume", { focus: false });
    return;
  }
  const receipt = voter.store.loadReceipt();
  if (form && votingOpen && !issued) {
    showStep("step-choose", { focus: false });
  } else if (receipt && (issued || !votingOpen)) {
    showReceipt(receipt, { focus: false });
  } else if (issued) {
    // Voted, but not from this browser (or its receipt was forgotten): say where it is.
    const elsewhere = byId("issued-elsewhere");
    if (elsewhere) elsewhere.hidden = false;
  }
}
