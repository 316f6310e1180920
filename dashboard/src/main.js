// The dashboard's shell: sign-in, the navigation, and the router (#/, #/plant/ID?..., #/alerts).

import { api, session } from "./api.js";
import { clearError, onUnauthorized, report } from "./ui.js";
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
        const key = input.value.trim();
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

/** The view of the current location (hash routes keep the dashboard one static page). */
async function route() {
  clearError();
  if (!session.key) return signIn();
  const [path, queryString] = location.hash.replace(/^#/, "").split("?");
  const query = new URLSearchParams(queryString || "");
  const plant = path.match(/^\/plant\/(\d+)$/);
  try {
    if (plant) await plantView(main, Number(plant[1]), query);
    else if (path === "/alerts") await alertsView(main, query);
    else await plantsView(main, query);
  } catch (error) {
    report(error);
  }
  main.focus({ preventScroll: true });
}

onUnauthorized(() => {
  session.clear();
  renderNav();
  signIn();
});
window.addEventListener("hashchange", route);
renderNav();
route();
