// The plants list (#/?q=&cursor=): search, pages as the API gives them, sync state, open alerts;
// with a write key, a form to create a plant. Also the plant form the plant page reuses.

import { allPages, api, session } from "./api.js";
import { field, h, num, show } from "./dom.js";
import { act, rerender, say } from "./ui.js";

const PAGE = 25;

/** Optional fields of a plant, as the form edits them: [field, label, input attributes, hint]. */
const METADATA = [
  ["capacity_kwp", "Capacity (kWp)", { type: "number", min: "0.001", step: "any", inputmode: "decimal" }, "DC peak power"],
  ["timezone", "Time zone", { type: "text", list: "timezones", autocomplete: "off" }, "IANA name, e.g. Europe/Berlin"],
  ["latitude", "Latitude", { type: "number", min: "-90", max: "90", step: "any" }, "−90 to 90"],
  ["longitude", "Longitude", { type: "number", min: "-180", max: "180", step: "any" }, "−180 to 180"],
  ["commissioned_on", "Commissioned on", { type: "date" }, "No data is fetched before it"],
];

function timezoneList() {
  const zones = Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : [];
  return h("datalist", { id: "timezones" }, zones.map((zone) => h("option", { value: zone })));
}

/**
 * A form for a plant's name and metadata. `plant` fills it (editing); `submit(body)` gets the
 * fields: numbers as numbers, and for an edit, cleared fields as null (a JSON merge patch).
 */
export function plantForm({ plant, legend, button, submit }) {
  const inputs = {};
  const name = h("input", { type: "text", name: "name", required: true, maxlength: "100", value: plant ? plant.name : "" });
  inputs.name = name;
  const fields = [field("Name", name)];
  for (const [key, label, attrs, hint] of METADATA) {
    const input = h("input", { name: key, ...attrs });
    if (plant && plant[key] !== null && plant[key] !== undefined) input.value = String(plant[key]);
    inputs[key] = input;
    fields.push(field(label, input, hint));
  }
  const submitButton = h("button", { type: "submit" }, button);
  const form = h(
    "form",
    {
      class: "plant-form",
      onsubmit: (event) => {
        event.preventDefault();
        const body = { name: name.value.trim() };
        for (const [key, , attrs] of METADATA) {
          const raw = inputs[key].value.trim();
          if (raw === "") {
            if (plant && plant[key] !== null) body[key] = null;
          } else body[key] = attrs.type === "number" ? Number(raw) : raw;
        }
        act(submitButton, () => submit(body));
      },
    },
    h("fieldset", {}, h("legend", {}, legend), timezoneList(), fields, submitButton),
  );
  return form;
}

async function openAlertCounts() {
  const { items } = await allPages("/api/solar-plant/alerts", { state: "open", limit: 200 }, 2000);
  const counts = new Map();
  for (const alert of items) counts.set(alert.plant_id, (counts.get(alert.plant_id) || 0) + 1);
  return counts;
}

function syncCells(sync) {
  const missing = sync.missing_days || [];
  return [
    h("td", {}, sync.synced_until || "not yet"),
    h("td", {}, sync.history_from || "—"),
    h("td", { title: missing.join(", ") || null }, missing.length ? `${missing.length} days` : "none"),
    h("td", { class: "error-text" }, sync.last_error || "—"),
  ];
}

export async function plantsView(main, query, current = () => true) {
  document.title = "Plants · PowerFactor";
  say("Loading plants…");
  const q = query.get("q") || "";
  const cursor = query.get("cursor") || undefined;
  const [listed, counted] = await Promise.allSettled([
    api("GET", "/api/solar-plant/", { query: { limit: PAGE, cursor, q } }).then((r) => r.body),
    openAlertCounts(),
  ]);
  if (!current()) return;
  if (listed.status === "rejected") throw listed.reason;
  const page = listed.value;
  const alerts = counted.status === "fulfilled" ? counted.value : null; // the list stands without them
  const search = h("input", { type: "search", name: "q", value: q, maxlength: "100" });
  const rows = page.items.map((plant) =>
    h(
      "tr",
      { dataset: { plantId: plant.id } },
      h("th", { scope: "row" }, h("a", { href: `#/plant/${plant.id}` }, plant.name)),
      h("td", { class: "num" }, num(plant.capacity_kwp)),
      h("td", {}, plant.timezone || "UTC (none set)"),
      syncCells(plant.sync),
      h(
        "td",
        { class: "num" },
        alerts === null ? "unknown" : alerts.get(plant.id) ? h("a", { href: `#/plant/${plant.id}` }, `${alerts.get(plant.id)} open`) : "none",
      ),
    ),
  );
  const here = new URLSearchParams(q ? { q } : {});
  const next = page.next_cursor ? new URLSearchParams({ ...(q ? { q } : {}), cursor: page.next_cursor }) : null;
  show(
    main,
    h("h1", {}, "Plants"),
    h(
      "form",
      {
        class: "search",
        role: "search",
        onsubmit: (event) => {
          event.preventDefault();
          const value = search.value.trim();
          location.hash = value ? `#/?${new URLSearchParams({ q: value })}` : "#/";
        },
      },
      field("Search by name", search),
      h("button", { type: "submit" }, "Search"),
    ),
    rows.length
      ? h(
          "div",
          { class: "scroll" },
          h(
            "table",
            { id: "plants" },
            h("caption", {}, q ? `Plants whose name contains “${q}”` : "All plants, in the order they were created"),
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                ["Name", "Capacity (kWp)", "Time zone", "Synced until", "History from", "Missing days", "Last error", "Alerts"].map(
                  (label) => h("th", { scope: "col" }, label),
                ),
              ),
            ),
            h("tbody", {}, rows),
          ),
        )
      : h(
          "p",
          { id: "no-plants" },
          page.next_cursor
            ? "No match among the plants searched so far: the next page searches further."
            : q
              ? "No plant name contains that."
              : "No plants yet.",
        ),
    h(
      "nav",
      { class: "pager", "aria-label": "Pages" },
      cursor ? h("a", { href: here.size ? `#/?${here}` : "#/" }, "First page") : null,
      next ? h("a", { href: `#/?${next}`, id: "next-page" }, "Next page") : null,
      h("button", { type: "button", onclick: () => rerender("Refreshed.") }, "Refresh"),
    ),
    session.canWrite()
      ? plantForm({
          legend: "New plant",
          button: "Create plant",
          submit: async (body) => {
            const { body: plant } = await api("POST", "/api/solar-plant/", { body });
            say(`Created ${plant.name}; its history is being fetched.`);
            location.hash = `#/plant/${plant.id}`;
          },
        })
      : null,
  );
  say(`${page.items.length} plants shown${alerts === null ? "; open alerts could not be counted" : ""}.`);
}
