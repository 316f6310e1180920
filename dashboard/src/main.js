// The dashboard's shell: sign-in, the navigation, and the router (#/, #/plant/ID?..., #/alerts).

import { api, session } from "./api.js";
import { clearError, onUnauthorized, report, viewDrawn } from "./ui.js";
import { h, show, field } from "./dom.js";
import { plantsView } from "./plants.js";
import { plantView } from "./plant.js";
import { alertsView } from "./alerts.js";

const main = document.getElementById("main");

function renderNav() {
  const nav = document.getElementById("nav");
  const who = session.who;
  if (!who) {
    nav.hidden = true;
    return;
  }
  show(
    nav,
    h("a", { href: "#/" }, "Plants"),
    h("a", { href: "#/alerts" }, "Open alerts"),
    h("span", { class: "who", id: "who" }, `${who.name} (${who.scopes.join(", ")})`),
    h("button", { type: "button", id: "sign-out", onclick: signOut }, "Sign out"),
  );
  nav.hidden = false;
}

function signOut() {
  session.clear();
  renderNav();
  location.hash = "#/";
  signIn();
}

function signIn() {
  navigation += 1; // nothing still loading draws over the sign-in
  document.title = "Sign in · PowerFactor";
  const input = h("input", {
    type: "password",
    name: "key",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
  });
  const form = h(
    "form",
    {
      class: "card narrow",
      onsubmit: async (event) => {
        event.preventDefault();
        clearError();
        const key = input.value.trim().replace(/^bearer\s+/i, "");
        try {
          const { body } = await api("GET", "/api/solar-plant/key", { key });
          session.save(key, body);
          renderNav();
          route();
        } catch (error) {
          report(error);
        }
      },
    },
    h("h1", {}, "Sign in"),
    h("p", {}, "Paste an API key. It is kept in this browser tab only, until you sign out or close the tab."),
    field("API key", input, "Starts with pfk_"),
    h("button", { type: "submit" }, "Sign in"),
  );
  show(main, form);
  input.focus();
}

let navigation = 0;

/**
 * The view of the current location (hash routes keep the dashboard one static page). Each view
 * gets `current()`: false once the user went elsewhere, so a slow view never draws over a newer one.
 */
async function route() {
  const token = ++navigation;
  const current = () => token === navigation;
  clearError();
  if (!session.key) return signIn();
  const [path, queryString] = location.hash.replace(/^#/, "").split("?");
  const query = new URLSearchParams(queryString || "");
  const plant = path.match(/^\/plant\/(\d+)$/);
  try {
    if (plant) await plantView(main, Number(plant[1]), query, current);
    else if (path === "/alerts") await alertsView(main, query, current);
    else await plantsView(main, query, current);
    if (current()) viewDrawn();
  } catch (error) {
    if (current()) report(error);
  }
  if (current()) main.focus({ preventScroll: true });
}

document.querySelector(".skip").addEventListener("click", (event) => {
  event.preventDefault(); // the hash is the route: move focus, not the location
  main.focus();
});

onUnauthorized(() => {
  session.clear();
  renderNav();
  signIn();
});
window.addEventListener("hashchange", () => {
  if (!location.hash || location.hash.startsWith("#/")) route();
});
renderNav();
route();
