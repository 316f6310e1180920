// Expected vs observed charts (uPlot: canvas, ~20 KB gzipped). Buckets the API left out (no
// data) become gaps: a null point is put between two buckets that are not next to each other,
// so a line never bridges missing hours and nothing is drawn as zero. A bucket alone between
// gaps is drawn as a dot (a line of one point would draw nothing); the legend gives each
// bucket's period and completeness (hours present of total), so a partial day reads as one.

import uPlot from "uplot";

// The longest a bucket can be: consecutive buckets further apart than this have a gap between them.
const LONGEST = { hour: 3600, day: 25 * 3600, month: 31 * 86400 + 3600 };

/**
 * uPlot's columns for one measure from report buckets, with nulls at the gaps:
 * {data: [x, expected, observed], labels: the legend's text per point}.
 */
export function columns(buckets, granularity, measure) {
  const x = [];
  const expected = [];
  const observed = [];
  const labels = [];
  let previous = null;
  for (const bucket of buckets) {
    const t = Date.parse(bucket.start) / 1000;
    if (previous !== null && t - previous > LONGEST[granularity]) {
      x.push((previous + t) / 2);
      expected.push(null);
      observed.push(null);
      labels.push("no data");
    }
    x.push(t);
    expected.push(bucket[measure].expected);
    observed.push(bucket[measure].observed);
    labels.push(`${bucket.period} (${bucket.hours_present}/${bucket.hours_total} h)`);
    previous = t;
  }
  return { data: [x, expected, observed], labels };
}

/** The indices of points with no neighbour on either side: drawn as dots. */
function isolated(u, seriesIndex) {
  const values = u.data[seriesIndex];
  const found = [];
  for (let i = 0; i < values.length; i++) {
    if (values[i] !== null && values[i - 1] == null && values[i + 1] == null) found.push(i);
  }
  return found;
}

/** The legend's value: "—" with no bucket under the cursor, "no data" in a gap. */
function legendValue(unit) {
  return (u, v, series, index) => (index === null ? "—" : v === null ? "no data" : `${v.toFixed(2)} ${unit}`);
}

/**
 * A chart of one measure: expected dashed, observed solid (the line style, the legend's words
 * and the colours all tell them apart). `tz` is an IANA zone for the time axis.
 */
export function drawChart(target, { title, unit, columns: { data, labels }, tz, width }) {
  const points = { show: true, size: 6, filter: isolated };
  const opts = {
    title,
    width,
    height: 260,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), tz === "UTC" ? "Etc/UTC" : tz),
    cursor: { drag: { x: true, y: false } },
    scales: { x: { time: true } },
    axes: [{}, { label: unit, size: 60 }],
    series: [
      { label: "Bucket", value: (u, v, series, index) => (index === null ? "—" : labels[index]) },
      { label: "Expected", stroke: "#6b4fbb", dash: [8, 4], width: 2, points, value: legendValue(unit) },
      {
        label: "Observed",
        stroke: "#0b6e4f",
        fill: "rgba(11, 110, 79, 0.08)",
        width: 2,
        points,
        value: legendValue(unit),
      },
    ],
  };
  return new uPlot(opts, data, target);
}
