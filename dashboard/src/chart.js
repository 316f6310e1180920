// Expected vs observed charts (uPlot: canvas, ~20 KB gzipped). Buckets the API left out (no
// data) become gaps: a null point is put between two buckets that are not next to each other,
// so a line never bridges missing hours and nothing is drawn as zero.

import uPlot from "uplot";

// The longest a bucket can be: consecutive buckets further apart than this have a gap between them.
const LONGEST = { hour: 3600, day: 25 * 3600, month: 31 * 86400 + 3600 };

/** [x, expected, observed] columns for uPlot from report buckets, with nulls at the gaps. */
export function columns(buckets, granularity, measure) {
  const x = [];
  const expected = [];
  const observed = [];
  let previous = null;
  for (const bucket of buckets) {
    const t = Date.parse(bucket.start) / 1000;
    if (previous !== null && t - previous > LONGEST[granularity]) {
      x.push((previous + t) / 2);
      expected.push(null);
      observed.push(null);
    }
    x.push(t);
    expected.push(bucket[measure].expected);
    observed.push(bucket[measure].observed);
    previous = t;
  }
  return [x, expected, observed];
}

/** The legend's value: "—" with no bucket under the cursor, "no data" in a gap. */
function legendValue(unit) {
  return (u, v, series, index) => (index === null ? "—" : v === null ? "no data" : `${v.toFixed(2)} ${unit}`);
}

/**
 * A chart of one measure: expected dashed, observed solid (the line style, the legend's words
 * and the colours all tell them apart). `tz` is an IANA zone for the time axis.
 */
export function drawChart(target, { title, unit, data, tz, granularity, width }) {
  const single = data[0].length === 1;
  const opts = {
    title,
    width,
    height: 260,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), tz === "UTC" ? "Etc/UTC" : tz),
    cursor: { drag: { x: true, y: false } },
    scales: { x: { time: true } },
    axes: [{}, { label: unit, size: 60 }],
    series: [
      { label: granularity === "hour" ? "Hour" : granularity === "day" ? "Day" : "Month" },
      {
        label: "Expected",
        stroke: "#6b4fbb",
        dash: [8, 4],
        width: 2,
        points: { show: single },
        value: legendValue(unit),
      },
      {
        label: "Observed",
        stroke: "#0b6e4f",
        fill: "rgba(11, 110, 79, 0.08)",
        width: 2,
        points: { show: single },
        value: legendValue(unit),
      },
    ],
  };
  return new uPlot(opts, data, target);
}
