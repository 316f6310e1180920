// What every view shares: the error box (errors in words), the status line, sign-out on a 401.

import { ApiError } from "./api.js";
import { h, show } from "./dom.js";

const errorBox = () => document.getElementById("error");
let unauthorized = () => {};

/** What to do when the API refuses the key (main.js: back to sign-in). */
export function onUnauthorized(handler) {
  unauthorized = handler;
}

/** Say what went wrong, in words, where the page shows it (its status code as data-status). */
export function report(error) {
  const box = errorBox();
  const message = error instanceof ApiError ? error.message : `Something went wrong: ${error.message}`;
  show(box, h("p", {}, h("strong", {}, "Error: "), message));
  box.dataset.status = error instanceof ApiError ? String(error.status) : "";
  box.hidden = false;
  box.scrollIntoView({ block: "nearest" });
  if (error instanceof ApiError && error.status === 401) unauthorized();
}

export function clearError() {
  const box = errorBox();
  box.hidden = true;
  box.replaceChildren();
  delete box.dataset.status;
}

/** A short note for screen readers and eyes ("Loading…", "Saved"). */
export function say(text) {
  document.getElementById("status").textContent = text;
}

let afterView = null;

/** Show the current location again (after a change), then say `message` once it is drawn. */
export function rerender(message) {
  afterView = message || null;
  window.dispatchEvent(new HashChangeEvent("hashchange"));
}

/** Go to a hash; if it is already there, show it again (a repeated "Show" reloads). */
export function goTo(hash) {
  if (location.hash === hash) rerender();
  else location.hash = hash;
}

/** Called by the router when a view is drawn: what an action asked to be said after it. */
export function viewDrawn() {
  if (afterView) say(afterView);
  afterView = null;
}

/** Run an action of a button or form: errors reported, the control disabled meanwhile. */
export async function act(control, action) {
  clearError();
  if (control) control.disabled = true;
  try {
    return await action();
  } catch (error) {
    report(error);
    return undefined;
  } finally {
    if (control) control.disabled = false;
  }
}
