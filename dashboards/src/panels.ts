import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import {
  BigValueColorMode,
  BigValueGraphMode,
  BigValueTextMode,
  GraphDrawStyle,
  GraphThresholdsStyleConfigBuilder,
  GraphThresholdsStyleMode,
  LegendDisplayMode,
  LegendPlacement,
  ReduceDataOptionsBuilder,
  StackingConfigBuilder,
  StackingMode,
  TableCellDisplayMode,
  TableCellHeight,
  TableSortByFieldStateBuilder,
  VisibilityMode,
  VizLegendOptionsBuilder,
} from '@grafana/grafana-foundation-sdk/common';
import {
  DashboardLinkBuilder,
  DashboardLinkType,
  MappingType,
  ThresholdsConfigBuilder,
  ThresholdsMode,
  type DataTransformerConfig,
  type DynamicConfigValue,
  type ValueMapping,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { PanelBuilder as GaugePanel } from '@grafana/grafana-foundation-sdk/gauge';
import { PanelBuilder as StatPanel } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as StateTimelinePanel } from '@grafana/grafana-foundation-sdk/statetimeline';
import { PanelBuilder as TablePanel } from '@grafana/grafana-foundation-sdk/table';
import { PanelBuilder as TimeseriesPanel } from '@grafana/grafana-foundation-sdk/timeseries';
import { MIXED, POSTGRES, PROMETHEUS } from './datasources';

/**
 * The admin portal's panel vocabulary over the foundation SDK's builders: every panel gets a
 * title, a description, a unit and a size, and thresholds where a good/bad value exists, so the
 * dashboards read alike and the structural test can insist on it.
 */

export type Query = cog.Builder<cog.Dataquery>;
/** A threshold step: from this value up (null = from minus infinity), this colour. */
export type Step = readonly [number | null, string];

export const GREEN = 'green';
export const ORANGE = 'orange';
export const RED = 'red';
export const BLUE = 'blue';
export const GREY = 'text';

/** 1 is good, anything less is bad (an `up`-style gauge). */
export const UP: Step[] = [
  [null, RED],
  [1, GREEN],
];
/** 0 is good, any count is bad (failures, stuck executions). */
export const ANY_IS_BAD: Step[] = [
  [null, GREEN],
  [1, RED],
];
/** 0 is good, any count deserves a look. */
export const ANY_IS_A_WARNING: Step[] = [
  [null, GREEN],
  [1, ORANGE],
];

export interface PanelOptions {
  title: string;
  /** What the panel answers and how to read it (shown as the panel's (i) tooltip). */
  description: string;
  unit: string;
  queries: Query[];
  w: number;
  h: number;
  min?: number;
  max?: number;
  decimals?: number;
  /** Colours by value, lowest first; omit where no value is good or bad. */
  thresholds?: Step[];
  mappings?: ValueMapping[];
  /** What an empty result means, in words (instead of Grafana's bare "No data"). */
  noValue?: string;
  /** Links shown on the panel's title (to another dashboard: `/d/<uid>`). */
  links?: { title: string; url: string }[];
}

function thresholds(steps: readonly Step[]): ThresholdsConfigBuilder {
  return new ThresholdsConfigBuilder()
    .mode(ThresholdsMode.Absolute)
    .steps(steps.map(([value, color]) => ({ value: value as number, color })));
}

/** Maps exact values to words and colours, e.g. `{ 1: ['Operational', GREEN], 0: ['Down', RED] }`. */
export function valueText(map: Record<string, readonly [string, string]>): ValueMapping {
  return {
    type: MappingType.ValueToText,
    options: Object.fromEntries(Object.entries(map).map(([value, [text, color]], index) => [value, { text, color, index }])),
  };
}

/** Maps a range of values to words and a colour. */
export function rangeText(from: number | null, to: number | null, text: string, color: string): ValueMapping {
  return { type: MappingType.RangeToText, options: { from, to, result: { text, color } } };
}

type Common = StatPanel | TimeseriesPanel | TablePanel | GaugePanel | StateTimelinePanel;

function datasourceOf(queries: Query[]): { type: string; uid: string } {
  const kinds = new Set(queries.map((q) => (q.build() as unknown as { datasource: { uid: string } }).datasource.uid));
  if (kinds.size > 1) return MIXED;
  return kinds.has(POSTGRES.uid) ? POSTGRES : PROMETHEUS;
}

function common<T extends Common>(panel: T, o: PanelOptions): T {
  panel.title(o.title).description(o.description).unit(o.unit).datasource(datasourceOf(o.queries)).targets(o.queries).span(o.w).height(o.h);
  if (o.min !== undefined) panel.min(o.min);
  if (o.max !== undefined) panel.max(o.max);
  if (o.decimals !== undefined) panel.decimals(o.decimals);
  if (o.thresholds) panel.thresholds(thresholds(o.thresholds));
  if (o.mappings) panel.mappings(o.mappings);
  if (o.noValue) panel.noValue(o.noValue);
  if (o.links) panel.links(o.links.map((l) => new DashboardLinkBuilder(l.title).url(l.url)));
  return panel;
}

export interface StatOptions extends PanelOptions {
  /** Sparkline under the value (off by default: tiles read at a glance). */
  graph?: boolean;
  /** Colour the whole tile (status tiles) rather than the value. */
  background?: boolean;
  /** Show the series name (legend) instead of, or with, the value. */
  textMode?: 'value' | 'name' | 'value_and_name';
}

export function stat(o: StatOptions): StatPanel {
  const p = common(new StatPanel(), o)
    .graphMode(o.graph ? BigValueGraphMode.Area : BigValueGraphMode.None)
    .colorMode(o.background ? BigValueColorMode.Background : BigValueColorMode.Value)
    .textMode(
      o.textMode === 'name'
        ? BigValueTextMode.Name
        : o.textMode === 'value_and_name'
          ? BigValueTextMode.ValueAndName
          : BigValueTextMode.Auto,
    )
    .reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false));
  // Without thresholds a number is neither good nor bad: show it in the text colour.
  if (!o.thresholds) p.thresholds(thresholds([[null, GREY]]));
  return p;
}

export function gauge(o: PanelOptions): GaugePanel {
  return common(new GaugePanel(), o)
    .reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .showThresholdMarkers(true);
}

export interface TimeseriesOptions extends PanelOptions {
  stack?: boolean;
  bars?: boolean;
  /** Legend as a table with these calculations (e.g. ['mean', 'max', 'lastNotNull']). */
  legendCalcs?: string[];
}

export function timeseries(o: TimeseriesOptions): TimeseriesPanel {
  const p = common(new TimeseriesPanel(), o)
    .drawStyle(o.bars ? GraphDrawStyle.Bars : GraphDrawStyle.Line)
    .lineWidth(1)
    .fillOpacity(o.stack || o.bars ? 60 : 10)
    .showPoints(VisibilityMode.Never)
    .spanNulls(false)
    .legend(
      new VizLegendOptionsBuilder()
        .showLegend(true)
        .placement(o.legendCalcs ? LegendPlacement.Right : LegendPlacement.Bottom)
        .displayMode(o.legendCalcs ? LegendDisplayMode.Table : LegendDisplayMode.List)
        .calcs(o.legendCalcs ?? []),
    );
  if (o.stack) p.stacking(new StackingConfigBuilder().mode(StackingMode.Normal));
  if (o.thresholds) p.thresholdsStyle(new GraphThresholdsStyleConfigBuilder().mode(GraphThresholdsStyleMode.Dashed));
  return p;
}

export interface StateTimelineOptions extends PanelOptions {
  /** Merge equal consecutive values into one bar. */
  mergeValues?: boolean;
}

export function stateTimeline(o: StateTimelineOptions): StateTimelinePanel {
  return common(new StateTimelinePanel(), o)
    .mergeValues(o.mergeValues ?? true)
    .showValue(VisibilityMode.Never)
    .rowHeight(0.8);
}

export interface Column {
  /** The field as the query returns it (a label, a SQL column, or `Value #<refId>`). */
  field: string;
  /** The header shown. */
  title?: string;
  /** A Unix time in milliseconds (from Prometheus): shown as a date. SQL timestamps are dates already. */
  time?: boolean;
  thresholds?: Step[];
  /** Colour the cell's text or its background by the thresholds (or the panel's value mappings). */
  color?: 'text' | 'background';
}

export interface TableOptions extends PanelOptions {
  /** Columns in order; fields not named here are hidden. */
  columns: Column[];
  /** Several instant queries joined into one row per value of this field (e.g. `client`). */
  joinBy?: string;
  sortBy?: { field: string; desc?: boolean };
  /** A link on every cell: `${__data.fields.<field>}` is the row's value of another column. */
  rowLink?: { title: string; url: string };
}

/**
 * A table. One unit and one set of value mappings serve the whole panel: the dashboard schema
 * (../shared/contracts) types an override's value as an object, so per-column units, widths and
 * mappings cannot be written as overrides. Columns therefore carry what can be: thresholds and cell
 * colouring (objects), time conversion (a transformation); SQL formats its own text.
 */
export function table(o: TableOptions): TablePanel {
  const p = common(new TablePanel(), o).showHeader(true).cellHeight(TableCellHeight.Sm);
  const transformations: DataTransformerConfig[] = [];
  // Instant queries come back as one frame each; `merge` joins them on their shared label columns.
  if (o.joinBy) transformations.push({ id: 'merge', options: {} });
  const times = o.columns.filter((c) => c.time);
  if (times.length) {
    transformations.push({
      id: 'convertFieldType',
      options: { fields: {}, conversions: times.map((c) => ({ targetField: c.field, destinationType: 'time' })) },
    });
  }
  const shown = new Set(o.columns.map((c) => c.field));
  transformations.push({
    id: 'organize',
    options: {
      excludeByName: { Time: !shown.has('Time') },
      indexByName: Object.fromEntries(o.columns.map((c, i) => [c.field, i])),
      renameByName: Object.fromEntries(o.columns.filter((c) => c.title).map((c) => [c.field, c.title!])),
      includeByName: Object.fromEntries(o.columns.map((c) => [c.field, true])),
    },
  });
  p.transformations(transformations);
  for (const c of o.columns) {
    const properties: DynamicConfigValue[] = [];
    if (c.thresholds) properties.push({ id: 'thresholds', value: thresholds(c.thresholds).build() });
    if (c.color) {
      const type = c.color === 'background' ? TableCellDisplayMode.ColorBackground : TableCellDisplayMode.ColorText;
      properties.push({ id: 'custom.cellOptions', value: { type } });
    }
    if (properties.length) {
      p.withOverride({ matcher: { id: 'byNames', options: { mode: 'include', names: [c.title ?? c.field] } }, properties });
    }
  }
  if (o.rowLink) p.dataLinks([new DashboardLinkBuilder(o.rowLink.title).url(o.rowLink.url)]);
  if (o.sortBy) p.sortBy([new TableSortByFieldStateBuilder().displayName(o.sortBy.field).desc(o.sortBy.desc ?? false)]);
  return p;
}

/** Links to the other admin dashboards, shown in every admin dashboard's header. */
export function adminLinks(): DashboardLinkBuilder[] {
  return [
    new DashboardLinkBuilder('CT Admin')
      .type(DashboardLinkType.Dashboards)
      .tags(['ct-admin'])
      .asDropdown(true)
      .includeVars(false)
      .keepTime(true),
  ];
}
