// Entry point of voting/static/ballot.js (built by `npm run build`; see docs/architecture.md).
import { startBallotPage } from "./ui.js";

function boot() {
  const root = document.getElementById("ballot-app");
  if (root) startBallotPage(root);
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", boot);
} else {
  boot();
}
