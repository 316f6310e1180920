// One plant (#/plant/ID?from=&to=&granularity=&tz=): its metadata and sync state, a range
// picker, expected vs observed charts, yield / performance ratio / completeness per bucket and
// for the range, its alerts, a CSV of exactly what is shown; with a write key, edit, delete and
// re-sync.

import { allCsv, allPages, api, ApiError, session } from "./api.js";
import { columns, drawChart } from "./chart.js";
import { completeness, field, h, num, pct, show } from "./dom.js";
import { plantForm } from "./plants.js";
import { act, goTo, rerender, say } from "./ui.js";

const GRANULARITIES = ["hour", "day", "month"];
const PAGE = 10000; // buckets per request (the API's most); `limit` in the location overrides it
const MOST_BUCKETS = 30000; // what the dashboard draws at most: ~3.4 years by hour
const TABLE_ROWS = 5000; // rows the table shows (the CSV has every bucket)

/** Is this a zone the browser knows (the API knows the tz database; a browser may lag)? */
function knownZone(zone) {
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Today as YYYY-MM-DD in an IANA zone (in UTC if the browser does not know the zone). */
function today(zone) {
  const parts = new Intl.DateTimeFormat("en", {
    timeZone: knownZone(zone) ? zone : "UTC",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
  }).formatToParts(new Date());
  const part = (type) => parts.find((p) => p.type === type).value;
  return `${part("year")}-${part("month")}-${part("day")}`;
}

function addDays(day, days) {
  const [y, m, d] = day.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d + days)).toISOString().slice(0, 10);
}

/** The presets: [label, (today) => [from, to]]. */
const PRESETS = [
  ["Last 7 days", (t) => [addDays(t, -6), t]],
  ["Last 30 days", (t) => [addDays(t, -29), t]],
  ["This year", (t) => [`${t.slice(0, 4)}-01-01`, t]],
];

/** What to show: the location's parameters, else the last 30 days by day in the plant's zone. */
function selection(plant, query) {
  const tz = query.get("tz") || plant.timezone || "UTC";
  const zone = tz === "local" ? plant.timezone || "UTC" : tz;
  const [from, to] = PRESETS[1][1](today(zone));
  const granularity = GRANULARITIES.includes(query.get("granularity")) ? query.get("granularity") : "day";
  return { tz, zone, from: query.get("from") || from, to: query.get("to") || to, granularity };
}

function go(plantId, chosen) {
  const { from, to, granularity, tz } = chosen;
  goTo(`#/plant/${plantId}?${new URLSearchParams({ from, to, granularity, tz })}`);
}

/** How many buckets the range has at most (a DST day counts 25 hours). */
function bucketsAtMost({ from, to, granularity }) {
  const days = Math.round((Date.parse(to) - Date.parse(from)) / 86400000) + 1;
  if (granularity === "hour") return days * 25;
  if (granularity === "day") return days;
  return Math.ceil(days / 28);
}

function details(plant) {
  const sync = plant.sync;
  const rows = [
    ["Capacity", plant.capacity_kwp === null ? "not set (no yield or performance ratio)" : `${num(plant.capacity_kwp)} kWp`],
    ["Time zone", plant.timezone || "not set (reports in UTC)"],
    ["Location", plant.latitude === null ? "not set" : `${plant.latitude}, ${plant.longitude}`],
    ["Commissioned on", plant.commissioned_on || "not set"],
    ["Synced until", sync.synced_until || "not yet"],
    ["History from", sync.history_from || "—"],
    ["Missing days", sync.missing_days.length ? `${sync.missing_days.length}: ${sync.missing_days.slice(0, 10).join(", ")}${sync.missing_days.length > 10 ? " …" : ""}` : "none"],
    ["Last sync", sync.last_success_at || "never"],
    ["Last error", sync.last_error || "none"],
    ["Re-sync", sync.resync ? `${sync.resync.state} ${sync.resync.from} to ${sync.resync.to}${sync.resync.last_error ? ` (${sync.resync.last_error})` : ""}` : "none queued"],
  ];
  return h("dl", { class: "facts", id: "plant-facts" }, rows.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
}

function writeControls(main, plant) {
  const edit = h(
    "details",
    { class: "card" },
    h("summary", {}, "Edit plant"),
    plantForm({
      plant,
      legend: "Name and metadata",
      button: "Save changes",
      submit: async (body) => {
        await api("PATCH", `/api/solar-plant/plant/${plant.id}`, { body });
        rerender("Saved.");
      },
    }),
  );
  const from = h("input", { type: "date", name: "resync-from", required: true });
  const to = h("input", { type: "date", name: "resync-to", required: true });
  const resyncButton = h("button", { type: "submit" }, "Queue re-sync");
  const resync = h(
    "details",
    { class: "card" },
    h("summary", {}, "Re-sync a range"),
    h(
      "form",
      {
        onsubmit: (event) => {
          event.preventDefault();
          act(resyncButton, async () => {
            const { body } = await api("POST", `/api/solar-plant/plant/${plant.id}/sync`, {
              body: { from: from.value, to: to.value },
            });
            rerender(`Re-sync of ${body.from} to ${body.to} is ${body.state}.`);
          });
        },
      },
      h("p", {}, "Fetches these UTC days again: the hours it gives overwrite the stored ones; hours it omits are kept."),
      field("From", from),
      field("To", to),
      resyncButton,
    ),
  );
  const warning = h("p", { id: "delete-warning" }, `Delete “${plant.name}” and all its data and alerts? This cannot be undone.`);
  const confirmBox = h("div", {
    class: "confirm",
    hidden: true,
    role: "group",
    "aria-label": "Confirm deletion",
    "aria-describedby": "delete-warning",
  });
  const close = () => {
    confirmBox.hidden = true;
    deleteButton.focus();
  };
  const yes = h("button", { type: "button", class: "danger" }, `Delete ${plant.name}`);
  yes.addEventListener("click", () =>
    act(yes, async () => {
      await api("DELETE", `/api/solar-plant/plant/${plant.id}`);
      say(`Deleted ${plant.name}.`);
      location.hash = "#/";
    }),
  );
  const no = h("button", { type: "button", onclick: close }, "Cancel");
  show(confirmBox, warning, yes, no);
  confirmBox.addEventListener("keydown", (event) => {
    if (event.key === "Escape") close();
  });
  const deleteButton = h(
    "button",
    {
      type: "button",
      class: "danger",
      onclick: () => {
        confirmBox.hidden = false;
        no.focus();
      },
    },
    "Delete plant…",
  );
  return h("section", { class: "write", "aria-label": "Change this plant" }, edit, resync, h("div", { class: "card" }, deleteButton, confirmBox));
}

function rangeForm(plant, chosen) {
  const from = h("input", { type: "date", name: "from", value: chosen.from, required: true });
  const to = h("input", { type: "date", name: "to", value: chosen.to, required: true });
  const granularity = h(
    "select",
    { name: "granularity" },
    GRANULARITIES.map((g) => h("option", { value: g, selected: g === chosen.granularity }, g)),
  );
  const tz = h("input", { type: "text", name: "tz", value: chosen.tz, list: "report-zones", autocomplete: "off" });
  const zones = h(
    "datalist",
    { id: "report-zones" },
    ["UTC", ...(plant.timezone ? ["local", plant.timezone] : [])].map((z) => h("option", { value: z })),
  );
  const current = () => ({ from: from.value, to: to.value, granularity: granularity.value, tz: tz.value.trim() || "UTC" });
  const presets = PRESETS.map(([label, range]) =>
    h(
      "button",
      {
        type: "button",
        onclick: () => {
          const zone = tz.value.trim() === "local" || !tz.value.trim() ? plant.timezone || "UTC" : tz.value.trim();
          [from.value, to.value] = range(today(zone));
          go(plant.id, current());
        },
      },
      label,
    ),
  );
  return h(
    "form",
    {
      class: "range",
      "aria-label": "Range shown",
      onsubmit: (event) => {
        event.preventDefault();
        go(plant.id, current());
      },
    },
    h("div", { class: "presets", role: "group", "aria-label": "Presets" }, presets),
    field("From", from),
    field("To", to),
    field("Granularity", granularity),
    field("Time zone", tz, plant.timezone ? `UTC, local (${plant.timezone}) or an IANA name` : "UTC or an IANA name"),
    zones,
    h("button", { type: "submit", id: "show-range" }, "Show"),
  );
}

function totalsList(totals) {
  const rows = [
    ["Energy expected", `${num(totals.energy.expected)} kWh`],
    ["Energy observed", `${num(totals.energy.observed)} kWh (${pct(totals.energy.observed_to_expected)} of expected)`],
    ["Irradiation expected", `${num(totals.irradiation.expected)} Wh/m²`],
    ["Irradiation observed", `${num(totals.irradiation.observed)} Wh/m²`],
    ["Specific yield", totals.specific_yield === null ? "— (no capacity)" : `${num(totals.specific_yield)} kWh/kWp`],
    ["Performance ratio", totals.performance_ratio === null ? "—" : pct(totals.performance_ratio)],
    ["Completeness", completeness(totals.hours_present, totals.hours_total)],
  ];
  return h("dl", { class: "facts", id: "totals" }, rows.map(([t, v]) => [h("dt", {}, t), h("dd", {}, v)]));
}

const TABLE_HEAD = [
  "Period", "Hours present", "Energy expected (kWh)", "Energy observed (kWh)", "Observed / expected",
  "Irradiation expected (Wh/m²)", "Irradiation observed (Wh/m²)", "Specific yield (kWh/kWp)", "Performance ratio",
];

function bucketTable(buckets) {
  return h(
    "table",
    { id: "buckets" },
    h("caption", {}, "Every bucket of the range (buckets without data are left out)"),
    h("thead", {}, h("tr", {}, TABLE_HEAD.map((label) => h("th", { scope: "col" }, label)))),
    h(
      "tbody",
      {},
      buckets.map((b) =>
        h(
          "tr",
          {},
          h("th", { scope: "row" }, b.period),
          h("td", { class: b.hours_present < b.hours_total ? "partial num" : "num" }, completeness(b.hours_present, b.hours_total)),
          h("td", { class: "num" }, num(b.energy.expected, 3)),
          h("td", { class: "num" }, num(b.energy.observed, 3)),
          h("td", { class: "num" }, pct(b.energy.observed_to_expected)),
          h("td", { class: "num" }, num(b.irradiation.expected, 1)),
          h("td", { class: "num" }, num(b.irradiation.observed, 1)),
          h("td", { class: "num" }, num(b.specific_yield, 3)),
          h("td", { class: "num" }, pct(b.performance_ratio)),
        ),
      ),
    ),
  );
}

function alertList(alerts) {
  if (!alerts.length) return h("p", { id: "plant-alerts" }, "No alerts.");
  return h(
    "ul",
    { id: "plant-alerts", class: "alerts" },
    alerts.map((a) =>
      h(
        "li",
        { class: `alert ${a.state}` },
        h("strong", {}, a.state === "open" ? "Open: " : "Resolved: "),
        `${a.kind.replace("_", " ")} — ${a.message} (opened ${a.opened_at}${a.resolved_at ? `, resolved ${a.resolved_at}` : ""})`,
      ),
    ),
  );
}

/** The report's query for the API, from what is chosen. */
function reportQuery(plantId, chosen) {
  const { from, to, granularity, tz, limit } = chosen;
  return { "plant-id": plantId, from, to, granularity, tz, limit };
}

/** Every bucket of the range, drawn: charts, totals, the table, the CSV. */
function drawReport({ main, plantId, chosen, report, charts, summary }) {
  const zone = report.tz;
  show(charts);
  const width = Math.max(240, Math.min(charts.clientWidth - 12, 1100)); // 12: the frame's padding and border
  const axisZone = knownZone(zone) ? zone : "UTC";
  const common = { tz: axisZone, width };
  const energy = drawChart(charts, {
    ...common, title: "Energy (kWh)", unit: "kWh", columns: columns(report.items, chosen.granularity, "energy"),
  });
  const irradiation = drawChart(charts, {
    ...common, title: "Irradiation (Wh/m²)", unit: "Wh/m²", columns: columns(report.items, chosen.granularity, "irradiation"),
  });
  charts.setAttribute("aria-busy", "false");
  for (const [chart, what] of [[energy, "Energy"], [irradiation, "Irradiation"]]) {
    const canvas = chart.root.querySelector(".u-wrap"); // the legend below stays readable text
    canvas.setAttribute("role", "img");
    canvas.setAttribute(
      "aria-label",
      `${what}, expected (dashed) and observed (solid), ${report.items.length} buckets by ${report.granularity}; the table below lists them`,
    );
  }
  const resize = () => {
    if (!charts.isConnected) return window.removeEventListener("resize", resize);
    const w = Math.max(240, Math.min(charts.clientWidth - 12, 1100));
    for (const chart of [energy, irradiation]) chart.setSize({ width: w, height: 260 });
  };
  window.addEventListener("resize", resize);
  // what the page shows, for tests and the benchmark to read back; the mark once it is painted
  window.powerfactor = { report, charts: { energy, irradiation } };
  requestAnimationFrame(() =>
    setTimeout(() => {
      performance.mark("powerfactor:chart-drawn");
      charts.dataset.drawn = String(report.items.length);
    }),
  );

  const tableSlot = h("div", { class: "scroll" });
  const shown = Math.min(report.items.length, TABLE_ROWS);
  const table = h(
    "details",
    {
      id: "bucket-details",
      ontoggle: (event) => {
        if (event.target.open && !tableSlot.firstChild) tableSlot.append(bucketTable(report.items.slice(0, shown)));
      },
    },
    h("summary", {}, shown < report.items.length ? `Table of the first ${shown} of ${report.items.length} buckets (the CSV has all)` : `Table of the ${report.items.length} buckets`),
    tableSlot,
  );
  const csvButton = h("button", { type: "button", id: "download-csv" }, "Download CSV");
  csvButton.addEventListener("click", () =>
    act(csvButton, async () => {
      const csv = await allCsv("/api/solar-plant/report/", reportQuery(plantId, chosen));
      const url = URL.createObjectURL(new Blob([csv], { type: "text/csv" }));
      const link = h("a", { href: url, download: `plant-${plantId}-${chosen.granularity}-${chosen.from}-${chosen.to}.csv` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      say("CSV downloaded.");
    }),
  );
  show(
    summary,
    h("h2", { id: "range-heading" }, `${report.from} to ${report.to} by ${report.granularity}, ${zone}`),
    report.items.length ? null : h("p", { id: "no-data" }, "No data in this range yet."),
    totalsList(report.totals),
    table,
    csvButton,
  );
}

export async function plantView(main, plantId, query, current = () => true) {
  window.powerfactor = null; // what the page shows: set again once drawn
  say("Loading the plant…");
  const { body: plant } = await api("GET", `/api/solar-plant/plant/${plantId}`);
  if (!current()) return;
  document.title = `${plant.name} · PowerFactor`;
  const chosen = { ...selection(plant, query), limit: Number(query.get("limit")) || PAGE };
  const charts = h("div", { class: "charts", id: "charts", "aria-busy": "true" }, h("p", {}, "Loading the report…"));
  const summary = h("section", { "aria-labelledby": "range-heading" });
  const alertsSection = h("section", { "aria-labelledby": "alerts-heading" }, h("h2", { id: "alerts-heading" }, "Alerts"));
  show(
    main,
    h("p", {}, h("a", { href: "#/" }, "← All plants")),
    h("h1", { id: "plant-name" }, plant.name),
    details(plant),
    session.canWrite() ? writeControls(main, plant) : null,
    h("h2", {}, "Expected vs observed"),
    rangeForm(plant, chosen),
    charts,
    summary,
    alertsSection,
  );
  const most = bucketsAtMost(chosen);
  const [reported, alerted] = await Promise.allSettled([
    most > MOST_BUCKETS
      ? Promise.reject(new ApiError(0, "too_many_buckets", `This range has up to ${most.toLocaleString("en")} buckets by ${chosen.granularity}; the dashboard draws at most ${MOST_BUCKETS.toLocaleString("en")}: choose a shorter range or a coarser granularity`))
      : allPages("/api/solar-plant/report/", reportQuery(plantId, chosen)),
    api("GET", `/api/solar-plant/plant/${plantId}/alerts`, { query: { limit: 20 } }).then((r) => r.body),
  ]);
  if (!current()) return;
  show(
    alertsSection,
    h("h2", { id: "alerts-heading" }, "Alerts"),
    alerted.status === "fulfilled" ? alertList(alerted.value.items) : h("p", {}, "The alerts could not be loaded."),
    alerted.status === "fulfilled" && alerted.value.next_cursor ? h("p", {}, "Only the 20 newest are shown.") : null,
  );
  if (reported.status === "rejected") {
    show(charts, h("p", { id: "no-report" }, "The report could not be shown."));
    charts.setAttribute("aria-busy", "false");
    throw reported.reason;
  }
  drawReport({ main, plantId, chosen, report: reported.value, charts, summary });
  say(`${plant.name}: ${reported.value.items.length} buckets shown.`);
}
