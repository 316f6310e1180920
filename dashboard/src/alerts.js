// Open alerts of every plant (#/alerts), oldest first, a page at a time as the API gives them.

import { api } from "./api.js";
import { h, show } from "./dom.js";
import { say } from "./ui.js";

export async function alertsView(main, query, current = () => true) {
  document.title = "Open alerts · PowerFactor";
  const cursor = query.get("cursor") || undefined;
  const { body } = await api("GET", "/api/solar-plant/alerts", { query: { state: "open", limit: 50, cursor } });
  if (!current()) return;
  const rows = body.items.map((a) =>
    h(
      "tr",
      {},
      h("th", { scope: "row" }, h("a", { href: `#/plant/${a.plant_id}` }, `Plant ${a.plant_id}`)),
      h("td", {}, a.kind.replace("_", " ")),
      h("td", {}, a.message),
      h("td", {}, a.opened_at),
      h("td", {}, a.updated_at),
    ),
  );
  show(
    main,
    h("h1", {}, "Open alerts"),
    rows.length
      ? h(
          "div",
          { class: "scroll" },
          h(
            "table",
            { id: "open-alerts" },
            h("caption", {}, "Alerts still open, oldest first"),
            h("thead", {}, h("tr", {}, ["Plant", "Kind", "What", "Opened", "Updated"].map((l) => h("th", { scope: "col" }, l)))),
            h("tbody", {}, rows),
          ),
        )
      : h("p", {}, "No open alerts."),
    h(
      "nav",
      { class: "pager", "aria-label": "Pages" },
      cursor ? h("a", { href: "#/alerts" }, "First page") : null,
      body.next_cursor ? h("a", { href: `#/alerts?${new URLSearchParams({ cursor: body.next_cursor })}` }, "Next page") : null,
    ),
  );
  say(`${body.items.length} open alerts shown.`);
}
