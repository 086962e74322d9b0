/**
 * Charts of a training run's metrics as PNG images, without a browser:
 * metric records -> a vega-lite spec (one panel per series, stacked) -> vega
 * spec -> a headless vega View -> SVG -> resvg (Rust, no canvas) -> PNG bytes.
 */
import { Resvg } from "@resvg/resvg-js";
import { parse, View } from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import { writeFileAtomic } from "../model/safetensors-write.ts";

/** One panel of the chart. */
export interface ChartSeries {
  /** Panel title. */
  title: string;
  /** The record field(s) drawn; several (e.g. train and held-out accuracy) share the panel, with a legend. */
  field: string | readonly string[];
  /** Fixed y range (e.g. [0, 1] for an accuracy); by default fitted to the data. */
  domain?: readonly [number, number];
  /** When true, a field that no record has yet (e.g. before the first evaluation) draws nothing instead of throwing. */
  optional?: boolean;
}

export interface ChartOptions {
  /** The x field of every panel, e.g. "step". */
  x: string;
  series: readonly ChartSeries[];
  /** Title over the whole chart. */
  title?: string;
  /** Width of the PNG in pixels (default 800); the height follows from the number of panels. */
  width?: number;
}

const PANEL_WIDTH = 560; // SVG units; the image is scaled to `options.width` at the end
const PANEL_HEIGHT = 140;
const MAX_DOTS = 150; // a series with more points than this is drawn without a dot on each
const FONT = "DejaVu Sans"; // present on Debian/Ubuntu; resvg falls back to any system font otherwise

/**
 * Renders `records` (one object per logged step) as a PNG: one panel per series, x = `options.x`,
 * a line through the points, each point marked unless the series has more than MAX_DOTS. A record
 * whose x or series field is missing or not a finite number is left out of that panel, so sparse
 * series (measured every N steps) work.
 * Throws an Error naming the field when no record has `options.x` or a (non-optional) series field.
 * Long by nature: most of it is the declarative vega-lite specification.
 */
export async function renderMetricsChart(
  records: ReadonlyArray<Record<string, unknown>>,
  options: ChartOptions,
): Promise<Uint8Array> {
  const { x, series, title, width = 800 } = options;
  if (series.length === 0) throw new Error("renderMetricsChart: no series to draw");
  if (!(Number.isInteger(width) && width > 0)) throw new Error(`renderMetricsChart: bad width ${width}`);
  const has = (field: string) => records.some((r) => Object.hasOwn(r, field));
  const seen = () => (records.length === 0 ? "there are no records" : `fields seen: ${fieldsOf(records)}`);
  if (!has(x)) throw new Error(`renderMetricsChart: no record has the x field "${x}" (${seen()})`);

  // Stage 1: records -> one long-form table per panel ({x, y, field}), dropping non-finite values.
  const panels = series.map((s) => {
    const fields = typeof s.field === "string" ? [s.field] : [...s.field];
    for (const f of fields) {
      if (!s.optional && !has(f))
        throw new Error(`renderMetricsChart: no record has the field "${f}" (${seen()})`);
    }
    const values = fields.flatMap((f) => {
      const points = records.flatMap((r) => {
        const [xv, yv] = [r[x], r[f]];
        return isFiniteNumber(xv) && isFiniteNumber(yv) ? [{ x: xv, y: yv, field: f, dot: true }] : [];
      });
      // dense series are drawn as a line alone: thousands of dots are slow to draw and hide the trend
      if (points.length > MAX_DOTS) for (const p of points) p.dot = false;
      return points;
    });
    return { s, fields, values };
  });

  // Stage 2: the vega-lite spec. Panels share the x scale so sparse series line up with dense ones.
  const spec: TopLevelSpec = {
    ...(title ? { title } : {}),
    background: "white",
    config: { font: FONT, view: { stroke: "#ddd" } },
    resolve: { scale: { x: "shared", color: "independent" } },
    vconcat: panels.map(({ s, fields, values }) => ({
      title: s.title,
      width: PANEL_WIDTH,
      height: PANEL_HEIGHT,
      data: { values },
      layer: [
        { mark: { type: "line" as const, clip: true } },
        {
          mark: { type: "point" as const, filled: true, size: 36, clip: true },
          transform: [{ filter: "datum.dot" }],
        },
      ],
      encoding: {
        x: { field: "x", type: "quantitative" as const, title: x },
        y: {
          field: "y",
          type: "quantitative" as const,
          title: null, // the panel's title says it
          scale: s.domain ? { domain: [...s.domain] } : { zero: false },
        },
        ...(fields.length > 1
          ? { color: { field: "field", type: "nominal" as const, title: null, scale: { domain: fields } } }
          : {}),
      },
    })),
  };

  // Stage 3: vega-lite -> vega spec -> dataflow; renderer "none" runs headless, toSVG draws the scenegraph.
  const view = new View(parse(compile(spec).spec), { renderer: "none", logLevel: 0 });
  let svg: string;
  try {
    svg = await view.toSVG();
  } finally {
    view.finalize();
  }

  // Stage 4: SVG -> PNG with resvg. Without any system font, text is skipped rather than failing.
  const png = new Resvg(svg, {
    fitTo: { mode: "width", value: width },
    background: "white",
    font: { loadSystemFonts: true, defaultFontFamily: FONT, sansSerifFamily: FONT },
    logLevel: "off",
  })
    .render()
    .asPng();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

/**
 * Renders as `renderMetricsChart` and writes the PNG to `path` atomically: into a temporary
 * file in the same folder, flushed, then renamed over `path` (the temporary is removed on error).
 */
export async function writeMetricsChart(
  path: string,
  records: ReadonlyArray<Record<string, unknown>>,
  options: ChartOptions,
): Promise<void> {
  await writeFileAtomic(path, await renderMetricsChart(records, options));
}

function isFiniteNumber(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

/** The field names of the records (the first 20), for error messages. */
function fieldsOf(records: ReadonlyArray<Record<string, unknown>>): string {
  const names = new Set<string>();
  for (const r of records) for (const k of Object.keys(r)) names.add(k);
  const list = [...names];
  return list.slice(0, 20).join(", ") + (list.length > 20 ? ", ..." : "");
}
