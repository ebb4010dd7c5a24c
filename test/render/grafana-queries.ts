/**
 * Reads the queries out of Grafana dashboards, alert rules and data sources, and checks them with
 * the Lezer grammars Grafana and Prometheus publish: PromQL (`@prometheus-io/lezer-promql`),
 * LogQL (`@grafana/lezer-logql`) and TraceQL (`@grafana/lezer-traceql`). Shared by the Grafana
 * renderer tests.
 */
import { parser as logqlParser } from '@grafana/lezer-logql';
import { parser as traceqlParser } from '@grafana/lezer-traceql';
import { parser as promqlParser } from '@prometheus-io/lezer-promql';

export type QueryLanguage = 'promql' | 'logql' | 'traceql';

const PARSERS = { promql: promqlParser, logql: logqlParser, traceql: traceqlParser } as const;

/** Grafana's interval macros: valid durations stand in for them. */
const DURATION_MACROS = new Set(['__rate_interval', '__interval', '__range', '__auto']);

/**
 * Replaces Grafana template variables outside string literals with text the grammar accepts in
 * the same place: interval macros (`$__rate_interval`, `${__interval}`) with `5m`, `$__tags` (a
 * trace-to-metrics macro that expands to label matchers) with `instance="x"`, and any other
 * variable (`$tenant`, `${instance}`, `${var:regex}`, `[[var]]`) with the identifier
 * `placeholder`. Inside quotes a variable is just text to the grammar, so it is left alone.
 */
export function substituteVariables(query: string): string {
  let out = '';
  let i = 0;
  while (i < query.length) {
    const char = query[i];
    if (char === '"' || char === "'" || char === '`') {
      let j = i + 1;
      while (j < query.length && query[j] !== char) j += char !== '`' && query[j] === '\\' ? 2 : 1;
      out += query.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    const variable = /^(?:\$\{([A-Za-z0-9_]+)(?::[^}]*)?\}|\$([A-Za-z0-9_]+)|\[\[([A-Za-z0-9_]+)(?::[^\]]*)?\]\])/.exec(query.slice(i));
    if (variable) {
      const name = variable[1] ?? variable[2] ?? variable[3];
      out += DURATION_MACROS.has(name) ? '5m' : name === '__tags' ? 'instance="x"' : 'placeholder';
      i += variable[0].length;
      continue;
    }
    out += char;
    i++;
  }
  return out;
}

/** Every syntax error the grammar finds, as `offset: text around it`; empty when the query parses. */
export function syntaxProblems(language: QueryLanguage, query: string): string[] {
  const text = substituteVariables(query);
  const problems: string[] = [];
  PARSERS[language].parse(text).iterate({
    enter(node) {
      if (node.type.isError) problems.push(`${node.from}: …${text.slice(Math.max(0, node.from - 15), node.from + 15)}…`);
    },
  });
  return problems;
}

/** The few syntax-node members used here (the grammars bundle their own copies of @lezer/common's types). */
interface SyntaxNode {
  readonly name: string;
  readonly from: number;
  readonly to: number;
  getChild(name: string): SyntaxNode | null;
  getChildren(name: string): SyntaxNode[];
}

interface Iterable {
  iterate(spec: { enter(node: { name: string; node: SyntaxNode }): void }): void;
}

/** Every node called `name` in the parse tree of `text`. */
function nodes(language: QueryLanguage, text: string, name: string): SyntaxNode[] {
  const found: SyntaxNode[] = [];
  (PARSERS[language].parse(text) as unknown as Iterable).iterate({
    enter(node) {
      if (node.name === name) found.push(node.node);
    },
  });
  return found;
}

const unquote = (text: string): string => (/^["'`]/.test(text) ? text.slice(1, -1) : text);

export interface Matcher {
  readonly label: string;
  readonly op: string;
  readonly value: string;
}

export interface Selector {
  /** The metric name, when the selector has one. */
  readonly metric?: string;
  readonly matchers: readonly Matcher[];
}

/** The vector selectors of a PromQL query (metric name and label matchers). */
export function promqlSelectors(query: string): Selector[] {
  const text = substituteVariables(query);
  return nodes('promql', text, 'VectorSelector').map((selector) => {
    const name = selector.getChild('Identifier');
    const matchers: Matcher[] = [];
    for (const matcher of selector.getChild('LabelMatchers')?.getChildren('UnquotedLabelMatcher') ?? []) {
      const [label, op, value] = [matcher.getChild('LabelName'), matcher.getChild('MatchOp'), matcher.getChild('StringLiteral')];
      if (label && op && value) {
        matchers.push({
          label: text.slice(label.from, label.to),
          op: text.slice(op.from, op.to),
          value: unquote(text.slice(value.from, value.to)),
        });
      }
    }
    return { metric: name ? text.slice(name.from, name.to) : undefined, matchers };
  });
}

/** Label names a PromQL query groups or matches on (`by (…)`, `without (…)`, `on (…)`, `ignoring (…)`). */
export function promqlGroupingLabels(query: string): string[] {
  const text = substituteVariables(query);
  return nodes('promql', text, 'GroupingLabels').flatMap((grouping) =>
    grouping.getChildren('LabelName').map((label) => text.slice(label.from, label.to)),
  );
}

/** The stream selector matchers of a LogQL query. */
export function logqlMatchers(query: string): Matcher[] {
  const text = substituteVariables(query);
  return nodes('logql', text, 'Matcher').flatMap((matcher) => {
    const label = matcher.getChild('Identifier');
    const value = matcher.getChild('String');
    if (!label || !value) return [];
    const op = text.slice(label.to, value.from).trim();
    return [{ label: text.slice(label.from, label.to), op, value: unquote(text.slice(value.from, value.to)) }];
  });
}

/** The values a matcher can select: the literal, or each alternative of a plain `a|b` regex. */
export function matcherValues(matcher: Matcher): string[] {
  return matcher.op === '=~' || matcher.op === '!~' ? matcher.value.split('|') : [matcher.value];
}

// ---------------------------------------------------------------------------
// Dashboards

export interface DataSourceRef {
  readonly type?: string;
  readonly uid?: string;
}

export interface DashboardVariable {
  readonly name: string;
  readonly type: string;
  readonly query?: unknown;
  readonly regex?: string;
  readonly current?: { readonly text?: string; readonly value?: string };
  readonly datasource?: DataSourceRef;
}

export interface Panel {
  readonly id?: number;
  readonly type: string;
  readonly title: string;
  readonly gridPos?: unknown;
  readonly datasource?: DataSourceRef;
  readonly targets?: ReadonlyArray<Record<string, unknown>>;
  readonly panels?: readonly Panel[];
}

export interface Dashboard {
  readonly uid: string;
  readonly title: string;
  readonly tags?: readonly string[];
  readonly templating?: { readonly list: readonly DashboardVariable[] };
  readonly panels: readonly Panel[];
}

/** A query found in a dashboard, with the data source plugin it runs on and where it was found. */
export interface FoundQuery {
  readonly where: string;
  /** Data source plugin type: prometheus, loki, tempo, cloudwatch. */
  readonly pluginType: string;
  /** The data source UID as written (a fixed UID, or `${variable}`). */
  readonly uid: string;
  /** The query text, for PromQL, LogQL and TraceQL. */
  readonly text?: string;
  readonly language?: QueryLanguage;
  /** The whole target, for structured queries (CloudWatch). */
  readonly target: Record<string, unknown>;
}

/** The `datasource` variable a `${name}` or `$name` UID refers to. */
export function variableOf(dashboard: Dashboard, uid: string): DashboardVariable | undefined {
  const name = /^\$\{?([A-Za-z0-9_]+)\}?$/.exec(uid)?.[1];
  return name === undefined ? undefined : dashboard.templating?.list.find((v) => v.name === name);
}

/** The plugin type a data source reference resolves to: its `type`, or the type a `datasource` variable is filtered to. */
export function pluginTypeOf(dashboard: Dashboard, ref: DataSourceRef | undefined): string | undefined {
  if (!ref?.uid) return ref?.type;
  const variable = variableOf(dashboard, ref.uid);
  return variable?.type === 'datasource' ? String(variable.query) : ref.type;
}

export function allPanels(panels: readonly Panel[]): Panel[] {
  return panels.flatMap((panel) => [panel, ...allPanels(panel.panels ?? [])]);
}

/** Every query of a dashboard: panel targets and query variables. */
export function dashboardQueries(dashboard: Dashboard): FoundQuery[] {
  const found: FoundQuery[] = [];
  const add = (where: string, ref: DataSourceRef | undefined, target: Record<string, unknown>) => {
    const pluginType = pluginTypeOf(dashboard, ref) ?? 'unknown';
    const uid = ref?.uid ?? '';
    if (pluginType === 'prometheus') found.push({ where, pluginType, uid, text: String(target.expr ?? ''), language: 'promql', target });
    else if (pluginType === 'loki') found.push({ where, pluginType, uid, text: String(target.expr ?? ''), language: 'logql', target });
    else if (pluginType === 'tempo') found.push({ where, pluginType, uid, text: String(target.query ?? ''), language: 'traceql', target });
    else found.push({ where, pluginType, uid, target });
  };
  for (const panel of allPanels(dashboard.panels)) {
    for (const target of panel.targets ?? []) {
      add(
        `${dashboard.uid} / ${panel.title} / ${String(target.refId)}`,
        (target.datasource as DataSourceRef | undefined) ?? panel.datasource,
        target,
      );
    }
  }
  for (const variable of dashboard.templating?.list ?? []) {
    if (variable.type !== 'query') continue;
    const where = `${dashboard.uid} / variable ${variable.name}`;
    if (pluginTypeOf(dashboard, variable.datasource) === 'prometheus') {
      // label_values(<selector>, <label>) and query_result(<expr>) wrap PromQL.
      const query = typeof variable.query === 'string' ? variable.query : String((variable.query as { query?: string })?.query ?? '');
      const inner = /^label_values\((.+),\s*[A-Za-z_][A-Za-z0-9_]*\)$/.exec(query)?.[1] ?? /^query_result\((.+)\)$/.exec(query)?.[1];
      found.push({
        where,
        pluginType: 'prometheus',
        uid: variable.datasource?.uid ?? '',
        text: inner ?? query,
        language: 'promql',
        target: { query },
      });
    } else {
      add(where, variable.datasource, (variable.query ?? {}) as Record<string, unknown>);
    }
  }
  return found;
}
