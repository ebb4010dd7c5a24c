/**
 * How a backend's config files reach its container: each file is stored in Parameter Store
 * (encoded when Parameter Store would refuse its text, split into parts when one parameter cannot
 * hold it), copied under a name that follows its content for the task definition to deliver, and
 * written into a volume by an init container, which also writes in the values kept out of the
 * stored file.
 */
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Stack, Token } from 'aws-cdk-lib/core';
import type { Construct } from 'constructs';
import {
  configDigest,
  configPartName,
  deployedConfigName,
  deployedConfigPath,
  ENCODED_CONFIG_PREFIX,
  encodeConfig,
  mustEncodeConfig,
} from '../lambdas/shared/config-files';
import { PARAMETER_VALUE_MAX_BYTES } from '../lambdas/shared/contract';
import type { TaskValue } from './render/cluster';

/** Standard-tier parameters hold 4 KB, advanced-tier 8 KB. */
export const STANDARD_PARAMETER_BYTES = 4096;
/** Bytes assumed for a deploy-time value (region, bucket name) when sizing a parameter at synth time. */
const TOKEN_ALLOWANCE_BYTES = 63;

/**
 * Upper bound of the byte length `value` will have once deployed: literal parts are
 * counted exactly, each unresolved token as {@link TOKEN_ALLOWANCE_BYTES}.
 */
export function deployedLengthUpperBound(value: string): number {
  if (!Token.isUnresolved(value)) return Buffer.byteLength(value, 'utf8');
  // Stringified tokens look like `${Token[AWS.Region.12]}`.
  const withAllowance = value.replace(/\$\{Token\[[^\]]+\]\}/g, 'x'.repeat(TOKEN_ALLOWANCE_BYTES));
  return Buffer.byteLength(withAllowance, 'utf8');
}

/**
 * Which Parameter Store tier a kind of file lives in. Parameter Store upgrades a parameter from
 * standard to advanced but refuses the way back, so the tier follows the kind of file, never its
 * rendered size (a file that shrank would otherwise ask for a downgrade and fail the update):
 * `standard` for files whose size does not grow with the configuration, `advanced` for the rest.
 */
export type ParameterTierKind = 'standard' | 'advanced';

/** The tier of a `kind` parameter holding `value`; throws, naming it, when the value does not fit that tier. */
export function parameterTierFor(name: string, value: string, kind: ParameterTierKind): ssm.ParameterTier {
  const bytes = deployedLengthUpperBound(value);
  if (kind === 'standard' && bytes > STANDARD_PARAMETER_BYTES) {
    throw new Error(
      `rendered config for ${name} is about ${bytes} bytes, over the ${STANDARD_PARAMETER_BYTES}-byte standard tier its kind of file is kept in ` +
        '(a parameter cannot go back from the advanced tier, so the tier never follows the size): reduce it',
    );
  }
  if (bytes > PARAMETER_VALUE_MAX_BYTES) {
    throw new Error(
      `rendered config for ${name} is about ${bytes} bytes, over the ${PARAMETER_VALUE_MAX_BYTES}-byte Parameter Store limit: ` +
        'reduce it (fewer tenants or settings) or split it into several files',
    );
  }
  return kind === 'advanced' ? ssm.ParameterTier.ADVANCED : ssm.ParameterTier.STANDARD;
}

/**
 * A value the init container writes into a config file in place of a placeholder: a secret (never
 * stored in Parameter Store or the template), a deploy-time value (a token, such as a generated
 * queue name, kept out of the stored file so the file can be encoded at synth time), or a value of
 * the task itself, known only once it runs (its address, its zone). The value is escaped character
 * by character (`escapes`), trailing line breaks are dropped, and a value with a line break inside
 * stops the task with a message naming it.
 */
export interface ConfigValue {
  /** Text of the file the value replaces (every occurrence). */
  readonly placeholder: string;
  /** The value: from a secret, as a deploy-time string, or read from the task metadata endpoint. */
  readonly source: { readonly secret: ecs.Secret } | { readonly value: string } | { readonly task: TaskValue };
  /** Replacement of single characters, e.g. `$` → `$$`. */
  readonly escapes: Readonly<Record<string, string>>;
  /** Names the value in the init container's error message. */
  readonly description: string;
}

/** One config file, stored in its own Parameter Store parameter. */
export interface ConfigFile {
  /** Parameter Store name holding the file, e.g. `/LgtmFleet/config/mimir`. */
  readonly parameterName: string;
  /** The rendered file content (may contain tokens). */
  readonly content: string;
  /** File name inside the config directory. */
  readonly fileName: string;
  /**
   * Values written into the file by the init container.
   * @default none
   */
  readonly values?: readonly ConfigValue[];
  /**
   * Parameter tier of the file's kind (see {@link ParameterTierKind}); a file larger than one
   * advanced parameter is split into parts, which needs `advanced`.
   * @default 'standard'
   */
  readonly tier?: ParameterTierKind;
}

/**
 * Shell commands that write a config file from the environment variables holding its parameter
 * values (`"$CONFIG_0"`…, parts in order). An encoded file is decoded, unless its stored value is
 * plain text (put there by hand), which is written as it is.
 */
export function writeConfigCommands(file: string, variables: readonly string[], encoded: boolean): string[] {
  // printf repeats its format for each argument: the parts are written one after the other.
  const write = (target: string) => `printf '%s' ${variables.join(' ')} > ${target}`;
  if (!encoded) return [write(file)];
  const stored = `${file}.stored`;
  return [
    write(stored),
    `case "$(head -c ${ENCODED_CONFIG_PREFIX.length} ${stored})" in ${ENCODED_CONFIG_PREFIX}) base64 -d < ${stored} | gunzip > ${file} ;; *) cp ${stored} ${file} ;; esac`,
    `rm ${stored}`,
  ];
}

/** An awk string literal: no `'`, so the program can sit in single quotes inside `sh -c`. */
function awkString(value: string): string {
  return `"${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll("'", '\\047')}"`;
}

/** A value to write into a file: the environment variable holding it, and how (see {@link ConfigValue}). */
export interface Substitution {
  readonly variable: string;
  readonly value: ConfigValue;
}

/**
 * The shell command that replaces `placeholder` in `file` with the value of the environment
 * variable `variable`, escaped by `escapes` (busybox and POSIX awk; the file is rewritten in place).
 */
export function substitutionCommand(file: string, variable: string, value: ConfigValue): string {
  return substitutionsCommand(file, [{ variable, value }]);
}

/**
 * One shell command that writes every value of `substitutions` into `file`, in order, each in
 * place of its placeholder (busybox and POSIX awk; the file is rewritten in place). One program
 * per file, with one escaping function per distinct set of escapes, keeps the init container's
 * command small when a file takes many values (the gateway: four per tenant): a task definition
 * holds at most 64 KiB.
 */
export function substitutionsCommand(file: string, substitutions: readonly Substitution[]): string {
  const escapeSets: string[] = [];
  const functions: string[] = [
    // A value, its trailing line breaks dropped; one with a line break inside stops the task, named.
    'function val(n, d,  v) { v = ENVIRON[n]; sub(/[\\r\\n]+$/, "", v); ' +
      'if (index(v, "\\n") || index(v, "\\r")) { print "lgtm-fleet: " d " contains a line break" > "/dev/stderr"; exit 1 } return v }',
  ];
  const assignments = substitutions.map(({ variable, value }, index) => {
    if (!/^[A-Za-z0-9_@.-]+$/.test(value.placeholder)) {
      throw new Error(`placeholder "${value.placeholder}" may hold only letters, digits and _@.-`);
    }
    for (const from of Object.keys(value.escapes)) {
      if ([...from].length !== 1) throw new Error(`escape "${from}" must be one character`);
    }
    let read = `val(${awkString(variable)}, ${awkString(value.description)})`;
    const entries = Object.entries(value.escapes);
    if (entries.length > 0) {
      const key = JSON.stringify(entries);
      let set = escapeSets.indexOf(key);
      if (set < 0) {
        set = escapeSets.push(key) - 1;
        const branches = entries.map(([from, to]) => `if (c == ${awkString(from)}) c = ${awkString(to)}; else `).join('');
        functions.push(
          `function esc${set}(v,  o, i, c) { o = ""; for (i = 1; i <= length(v); i++) { c = substr(v, i, 1); ${branches}c = c; o = o c } return o }`,
        );
      }
      read = `esc${set}(${read})`;
    }
    return `p[${index + 1}] = ${awkString(value.placeholder)}; v[${index + 1}] = ${read};`;
  });
  const program = [
    ...functions,
    `BEGIN { ${assignments.join(' ')} n = ${substitutions.length} }`,
    '{ l = $0; for (j = 1; j <= n; j++) { r = ""; while ((k = index(l, p[j])) > 0) { r = r substr(l, 1, k - 1) v[j]; l = substr(l, k + length(p[j])) } l = r l } print l }',
  ].join(' ');
  return `awk '${program}' ${file} > ${file}.tmp && mv ${file}.tmp ${file}`;
}

/** Config files delivered from Parameter Store into one directory of the container. */
export interface ConfigFilesProps {
  /** Directory the files appear in, inside the main container (mounted read-only). */
  readonly directory: string;
  /**
   * One or more files. A file larger than one parameter is stored as several parameters
   * (`<name>/part-<n>`, see lambdas/shared/config-files.ts) and concatenated by the init container.
   */
  readonly files: readonly ConfigFile[];
}

/** Bytes of one part of a split file: under the advanced tier's 8 KB, with room for multi-byte characters. */
const PART_CHARACTERS = 7000;

/** Splits `content` into parts that each fit an advanced parameter (by characters, so UTF-8 never splits). */
export function splitIntoParts(content: string): string[] {
  const parts: string[] = [];
  let part = '';
  for (const char of content) {
    if (Buffer.byteLength(part + char, 'utf8') > PART_CHARACTERS) {
      parts.push(part);
      part = '';
    }
    part += char;
  }
  parts.push(part);
  return parts;
}

/**
 * What the init container runs and receives, gathered while a service's volumes are laid out; no
 * commands means no init container.
 */
export class InitContainerPlan {
  /** Shell commands, run in order. */
  public readonly commands: string[] = [];
  public readonly secrets: Record<string, ecs.Secret> = {};
  public readonly environment: Record<string, string> = {};
  public readonly mounts: ecs.MountPoint[] = [];
  private parametersRead = 0;
  private valuesWritten = 0;

  /** Passes `parameter` in as the secret `CONFIG_<n>`; returns the shell word that reads it. */
  public readParameter(parameter: ssm.IParameter): string {
    const variable = `CONFIG_${this.parametersRead++}`;
    this.secrets[variable] = ecs.Secret.fromSsmParameter(parameter);
    return `"$${variable}"`;
  }

  /** Passes each value in as `VALUE_<n>` (or reads it from the task metadata) and writes them all into `file`, each in place of its placeholder. */
  public writeValues(file: string, values: readonly ConfigValue[]): void {
    if (values.length === 0) return;
    const substitutions = values.map((value) => {
      const variable = `VALUE_${this.valuesWritten++}`;
      if ('secret' in value.source) this.secrets[variable] = value.source.secret;
      else if ('value' in value.source) this.environment[variable] = value.source.value;
      else this.commands.push(...readTaskValueCommands(variable, value.source.task, value.description));
      return { variable, value };
    });
    this.commands.push(substitutionsCommand(file, substitutions));
  }
}

/**
 * Where each task value is in the ECS task metadata (endpoint v4, `/task`, Fargate platform 1.4),
 * once every blank is removed from the JSON (none of these values holds one), and what a
 * well-formed one looks like. In awsvpc mode every container of a task shares the task's one
 * address, so any `IPv4Addresses` entry is the task's.
 */
const TASK_VALUE_FIELDS: Record<TaskValue, { readonly extract: string; readonly valid: string }> = {
  address: { extract: 's/.*"IPv4Addresses":\\["\\([0-9.]*\\)".*/\\1/p', valid: '^[0-9]{1,3}([.][0-9]{1,3}){3}$' },
  availabilityZone: { extract: 's/.*"AvailabilityZone":"\\([a-z0-9-]*\\)".*/\\1/p', valid: '^[a-z]{2}(-[a-z0-9]+)+$' },
};

/**
 * Shell commands that set and export `variable` to the task's `value`, read from the metadata
 * endpoint ECS gives every container (`$ECS_CONTAINER_METADATA_URI_V4`); the task stops with a
 * message naming the value when it is missing or malformed (busybox `wget`, `tr`, `sed` and `grep`).
 */
export function readTaskValueCommands(variable: string, value: TaskValue, description: string): string[] {
  const field = TASK_VALUE_FIELDS[value];
  return [
    `${variable}="$(wget -qO- "$ECS_CONTAINER_METADATA_URI_V4/task" | tr -d ' \\t\\r\\n' | sed -n '${field.extract}' | head -n 1)"`,
    `export ${variable}`,
    `{ echo "$${variable}" | grep -Eq '${field.valid}' || { echo "lgtm-fleet: no valid ${description} in the task metadata (got '$${variable}')" >&2; exit 1; }; }`,
  ];
}

/** One parameter holding a config file (or one part of it), and the copy of it the task definition delivers. */
export interface StoredConfigParameter {
  readonly parameter: ssm.StringParameter;
  readonly deployed: ssm.StringParameter;
  /** `/<stack>/deployed/<service>`: every copy of the service's files lies below it. */
  readonly deployedPath: string;
}

/** A config file as Parameter Store holds it: encoded when it must be, in parts when one parameter cannot hold it. */
interface StoredForm {
  readonly encoded: boolean;
  /** Stored whole, in the parameter named as the file, rather than in `part-<n>` parameters. */
  readonly whole: boolean;
  readonly parts: readonly string[];
}

function storedForm(serviceName: string, file: ConfigFile): StoredForm {
  const encoded = mustEncodeConfig(file.content);
  if (encoded && Token.isUnresolved(file.content)) {
    throw new Error(
      `config file ${file.fileName} of ${serviceName} contains "{{", which Parameter Store refuses, and deploy-time values: ` +
        'pass those as values written in by the init container, so that the file can be encoded at synth time',
    );
  }
  const stored = encoded ? encodeConfig(file.content) : file.content;
  const whole = (file.tier ?? 'standard') === 'standard' || deployedLengthUpperBound(stored) <= PARAMETER_VALUE_MAX_BYTES;
  if (!whole && Token.isUnresolved(stored)) {
    throw new Error(`config file ${file.fileName} of ${serviceName} is too large for one parameter and contains deploy-time values`);
  }
  return { encoded, whole, parts: whole ? [stored] : splitIntoParts(stored) };
}

/** One parameter to create: its name, construct ID, content, and the part it holds (empty for a whole file). */
interface ParameterSpec {
  readonly name: string;
  readonly id: string;
  readonly content: string;
  readonly part: string;
}

/**
 * Stores `file` in parameters of `scope` (one, or one per part), each with its deployed copy, and has
 * the init container write the file to `target` and then write its values in. `singleFile` says the
 * service has no other config file: its parameter then keeps the plain ID `Config`.
 */
export function storeConfigFile(
  scope: Construct,
  serviceName: string,
  file: ConfigFile,
  target: string,
  singleFile: boolean,
  init: InitContainerPlan,
): StoredConfigParameter[] {
  const { encoded, whole, parts } = storedForm(serviceName, file);
  const stored = parts.map((content, index) =>
    storeConfigParameter(scope, serviceName, file, {
      name: whole ? file.parameterName : configPartName(file.parameterName, index + 1),
      // The logical ID follows the file's name, never its position: reordering tenants moves no parameter.
      id: singleFile && whole ? 'Config' : `Config-${file.fileName}${whole ? '' : `-${index + 1}`}`,
      content,
      part: whole ? '' : `, part ${index + 1} of ${parts.length}`,
    }),
  );
  const variables = stored.map(({ deployed }) => init.readParameter(deployed));
  init.commands.push(...writeConfigCommands(target, variables, encoded));
  for (const value of file.values ?? []) {
    if (!file.content.includes(value.placeholder)) {
      throw new Error(`config file ${file.fileName} of ${serviceName} does not contain the placeholder "${value.placeholder}"`);
    }
  }
  init.writeValues(target, file.values ?? []);
  return stored;
}

function storeConfigParameter(scope: Construct, serviceName: string, file: ConfigFile, spec: ParameterSpec): StoredConfigParameter {
  const tier = parameterTierFor(spec.name, spec.content, file.tier ?? 'standard');
  const parameter = new ssm.StringParameter(scope, spec.id, {
    parameterName: spec.name,
    stringValue: spec.content,
    tier,
    description: `Rendered ${serviceName} configuration (${file.fileName}${spec.part}); a change rolls the service`,
  });
  // The task definition delivers a copy named by its content, never the parameter itself: ECS would
  // resolve that to its latest version, so a rollback or a replaced task would run whatever was
  // written last (see deployedConfigName). A new content is a new copy and a new task definition.
  const digest = configDigest(JSON.stringify(Stack.of(scope).resolve(spec.content)));
  const deployed = new ssm.StringParameter(scope, `${spec.id}-Deployed`, {
    parameterName: deployedConfigName(spec.name, 'stack', digest),
    stringValue: spec.content,
    tier,
    description: `${serviceName} configuration as this stack deploys it (${file.fileName}); never changed`,
  });
  return { parameter, deployed, deployedPath: deployedConfigPath(spec.name).split('/').slice(0, 4).join('/') };
}
