// Building the page: elements from data, never from HTML strings (no markup from the API is
// ever parsed), and the few formats every view shares.

/** An element: h("a", {href: "#/"}, "text", child, [children]). `on*` props are listeners. */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2).toLowerCase(), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace what `el` shows. */
export function show(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A labelled form control: the label is tied to the control by id (every control has one). */
let ids = 0;
export function field(label, control, hint) {
  const id = control.id || `f${++ids}`;
  control.id = id;
  const hintEl = hint ? h("span", { class: "hint", id: `${id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hintEl);
}

const numberFormat = new Intl.NumberFormat("en", { maximumFractionDigits: 2 });
const ratioFormat = new Intl.NumberFormat("en", { style: "percent", maximumFractionDigits: 1 });

/** A number for people ("—" when there is none). */
export function num(value, digits) {
  if (value === null || value === undefined) return "—";
  if (digits !== undefined) return value.toFixed(digits);
  return numberFormat.format(value);
}

export function pct(value) {
  return value === null || value === undefined ? "—" : ratioFormat.format(value);
}

/** Hours present of total, as text and as a share. */
export function completeness(present, total) {
  return `${present}/${total} h (${ratioFormat.format(total ? present / total : 0)})`;
}
