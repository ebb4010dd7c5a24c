import {
  type ContainerDefinition,
  type Deployment,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  type ECSClient,
  RegisterTaskDefinitionCommand,
  type RegisterTaskDefinitionCommandInput,
  type Service,
  type Tag,
  type TaskDefinition,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { DeleteParametersCommand, PutParameterCommand, paginateDescribeParameters, type SSMClient } from '@aws-sdk/client-ssm';
import { chunk, errorName, step } from '../shared/aws';
import {
  CONFIG_INIT_CONTAINER,
  configDigest,
  type DeployedConfigName,
  deployedConfigName,
  deployedConfigPath,
  parseDeployedConfigName,
} from '../shared/config-files';
import type { ParameterVersion } from './outcomes';
import type { ParameterState } from './parameters';

/**
 * A service's config rollout as a new task-definition revision. ECS cannot pin a Parameter Store
 * version, so each revision names immutable copies of the files it delivers
 * (`/<stack>/deployed/…/v<version>-<digest>`, see deployedConfigName): the circuit breaker's
 * rollback returns to the previous revision and so to the previous config, and a task replaced
 * after a crash runs its revision's config, not whatever was written since.
 */

/** Refresh copies kept per file besides those the service's revisions name: room for rollouts that overlap. */
export const COPIES_KEPT_PER_FILE = 3;
/** Environment variable of the init container listing the versions a revision carries (`name=v7 …`). */
export const CONFIG_VERSIONS_VARIABLE = 'LGTM_CONFIG_VERSIONS';

/** One file a revision delivers: the init container's variable and the copy it is read from. */
export interface DeliveredFile {
  readonly variable: string;
  /** The copy's name (`/<stack>/deployed/…`). */
  readonly name: string;
  /** `valueFrom` as the task definition has it (an ARN or a name). */
  readonly valueFrom: string;
  readonly copy: DeployedConfigName;
}

export interface ServiceRevision {
  readonly taskDefinition: TaskDefinition;
  readonly tags: readonly Tag[];
  readonly files: readonly DeliveredFile[];
  /** The service's primary deployment, which runs (or is rolling out) this revision. */
  readonly deploymentId: string;
  readonly deploymentCreatedAt: Date;
}

/** The files a task definition delivers, read from its init container's secrets. */
export function deliveredFiles(taskDefinition: TaskDefinition): DeliveredFile[] {
  const init = taskDefinition.containerDefinitions?.find((container) => container.name === CONFIG_INIT_CONTAINER);
  const files: DeliveredFile[] = [];
  for (const secret of init?.secrets ?? []) {
    if (!secret.name || !secret.valueFrom) continue;
    const name = parameterNameOf(secret.valueFrom);
    const copy = parseDeployedConfigName(name);
    if (copy) files.push({ variable: secret.name, name, valueFrom: secret.valueFrom, copy });
  }
  return files;
}

/** `arn:aws:ssm:<region>:<account>:parameter/a/b` or `/a/b` → `/a/b`. */
export function parameterNameOf(valueFrom: string): string {
  const marker = ':parameter';
  const at = valueFrom.indexOf(marker);
  if (!valueFrom.startsWith('arn:') || at < 0) return valueFrom;
  const name = valueFrom.slice(at + marker.length);
  return name.startsWith('/') ? name : `/${name}`;
}

/** `valueFrom` for `name`, in the form (ARN or name) of `like`. */
export function valueFromFor(like: string, name: string): string {
  const marker = ':parameter';
  const at = like.indexOf(marker);
  return like.startsWith('arn:') && at >= 0 ? `${like.slice(0, at + marker.length)}${name}` : name;
}

/** The service, its task definition and deployments; a service ECS does not know is an error. */
async function describeService(ecs: ECSClient, clusterArn: string, serviceArn: string): Promise<Service & { taskDefinition: string }> {
  const described = await ecs.send(new DescribeServicesCommand({ cluster: clusterArn, services: [serviceArn] }));
  const failure = described.failures?.[0];
  const service = described.services?.[0];
  if (failure || !service?.taskDefinition) {
    throw Object.assign(new Error(`DescribeServices: ${failure?.reason ?? 'no task definition'} ${failure?.detail ?? ''}`.trim()), {
      name: failure?.reason === 'MISSING' ? 'ServiceNotFoundException' : 'DescribeServicesFailure',
    });
  }
  return service as Service & { taskDefinition: string };
}

/** The service's current task definition (the newest deployment's) and the files it delivers. */
export async function describeServiceRevision(ecs: ECSClient, clusterArn: string, serviceArn: string): Promise<ServiceRevision> {
  const service = await describeService(ecs, clusterArn, serviceArn);
  const primary = service.deployments?.find((deployment) => deployment.status === 'PRIMARY');
  const result = await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: service.taskDefinition, include: ['TAGS'] }));
  if (!result.taskDefinition)
    throw Object.assign(new Error(`DescribeTaskDefinition returned no task definition for ${service.taskDefinition}`), {
      name: 'DescribeTaskDefinitionFailure',
    });
  return {
    taskDefinition: result.taskDefinition,
    tags: result.tags ?? [],
    files: deliveredFiles(result.taskDefinition),
    deploymentId: primary?.id ?? 'unknown',
    deploymentCreatedAt: primary?.createdAt ?? new Date(0),
  };
}

/** A copy to make: `file`'s checked value under `name`. */
export interface ConfigCopy {
  readonly file: ParameterState;
  readonly name: string;
}

export type RevisionPlan =
  /** The service's revision already delivers every file's current value. */
  | { readonly kind: 'unchanged'; readonly undelivered: readonly string[] }
  | {
      readonly kind: 'changed';
      /** Copies to make before registering (one per changed file). */
      readonly copies: readonly ConfigCopy[];
      /** Init container variable → the copy it reads in the new revision. */
      readonly secrets: ReadonlyMap<string, string>;
      /** The version of each file the new revision delivers (files the stack's copy delivers: none). */
      readonly versions: readonly ParameterVersion[];
      /** Parameters under the service's path that no revision delivers (not in its task definition). */
      readonly undelivered: readonly string[];
    };

/**
 * What the new revision delivers, from the current one and the files just checked (pure). A file
 * whose current copy holds its value keeps that copy; a changed one gets a copy of its checked
 * version; a file whose parameter is gone keeps what runs (a deleted parameter is never pushed).
 */
export function planRevision(
  current: Pick<ServiceRevision, 'files'>,
  currentValues: ReadonlyMap<string, string>,
  files: readonly ParameterState[],
): RevisionPlan {
  const byName = new Map(files.map((file) => [file.name, file]));
  const delivered = new Set(current.files.map((file) => file.copy.configName));
  const undelivered = files.filter((file) => !delivered.has(file.name)).map((file) => file.name);
  const copies: ConfigCopy[] = [];
  const secrets = new Map<string, string>();
  const versions: ParameterVersion[] = [];
  for (const deliveredFile of current.files) {
    const file = byName.get(deliveredFile.copy.configName);
    if (file === undefined || currentValues.get(deliveredFile.name) === file.value) {
      secrets.set(deliveredFile.variable, deliveredFile.name);
      if (deliveredFile.copy.version !== null) versions.push({ name: deliveredFile.copy.configName, version: deliveredFile.copy.version });
      continue;
    }
    const name = deployedConfigName(file.name, file.version, configDigest(file.value));
    if (!copies.some((copy) => copy.name === name)) copies.push({ file, name });
    secrets.set(deliveredFile.variable, name);
    versions.push({ name: file.name, version: file.version });
  }
  if (copies.length === 0) return { kind: 'unchanged', undelivered };
  return { kind: 'changed', copies, secrets, versions, undelivered };
}

/** The fields RegisterTaskDefinition takes back from DescribeTaskDefinition (the rest are read-only). */
const REGISTRABLE_FIELDS = [
  'family',
  'taskRoleArn',
  'executionRoleArn',
  'networkMode',
  'containerDefinitions',
  'volumes',
  'placementConstraints',
  'requiresCompatibilities',
  'cpu',
  'memory',
  'pidMode',
  'ipcMode',
  'proxyConfiguration',
  'inferenceAccelerators',
  'ephemeralStorage',
  'runtimePlatform',
  'enableFaultInjection',
] as const satisfies readonly (keyof RegisterTaskDefinitionCommandInput & keyof TaskDefinition)[];

/**
 * The new revision (pure): the current one with the init container reading the new copies and
 * naming their versions, every other setting and tag as it was (AWS-reserved tags excepted).
 */
export function revisionInput(
  current: Pick<ServiceRevision, 'taskDefinition' | 'tags'>,
  plan: Extract<RevisionPlan, { kind: 'changed' }>,
): RegisterTaskDefinitionCommandInput {
  const input: Record<string, unknown> = {};
  for (const field of REGISTRABLE_FIELDS) {
    const value = current.taskDefinition[field];
    if (value !== undefined) input[field] = value;
  }
  const versions = plan.versions.map((entry) => `${entry.name}=v${entry.version}`).join(' ');
  input.containerDefinitions = (current.taskDefinition.containerDefinitions ?? []).map((container): ContainerDefinition => {
    if (container.name !== CONFIG_INIT_CONTAINER) return container;
    const environment = (container.environment ?? []).filter((entry) => entry.name !== CONFIG_VERSIONS_VARIABLE);
    if (versions) environment.push({ name: CONFIG_VERSIONS_VARIABLE, value: versions });
    return {
      ...container,
      environment,
      secrets: (container.secrets ?? []).map((secret) => {
        const name = secret.name === undefined ? undefined : plan.secrets.get(secret.name);
        return name === undefined || secret.valueFrom === undefined
          ? secret
          : { ...secret, valueFrom: valueFromFor(secret.valueFrom, name) };
      }),
    };
  });
  const tags = current.tags.filter((tag) => tag.key && !tag.key.startsWith('aws:'));
  if (tags.length > 0) input.tags = tags;
  return input as unknown as RegisterTaskDefinitionCommandInput;
}

/**
 * Writes each copy once. Intelligent-Tiering picks Standard or Advanced by size. A copy that
 * exists already holds the same value (its name carries the digest): that is not an error.
 */
export async function makeCopies(ssm: SSMClient, copies: readonly ConfigCopy[]): Promise<void> {
  for (const copy of copies) {
    try {
      await ssm.send(
        new PutParameterCommand({
          Name: copy.name,
          Value: copy.file.value,
          Type: 'String',
          Tier: 'Intelligent-Tiering',
          Overwrite: false,
          Description: `${copy.file.name} version ${copy.file.version}, as checked and rolled out by a config refresh; never changed`,
        }),
      );
    } catch (error) {
      if (errorName(error) !== 'ParameterAlreadyExists') throw error;
    }
  }
}

/** Registers the revision and moves the service onto it; returns the revision and the deployment ID. */
export async function deployRevision(
  ecs: ECSClient,
  clusterArn: string,
  serviceArn: string,
  input: RegisterTaskDefinitionCommandInput,
): Promise<{ readonly taskDefinitionArn: string; readonly deploymentId: string }> {
  const registered = await step('RegisterTaskDefinition', () => ecs.send(new RegisterTaskDefinitionCommand(input)));
  const taskDefinitionArn = registered.taskDefinition?.taskDefinitionArn;
  if (!taskDefinitionArn)
    throw Object.assign(new Error('RegisterTaskDefinition returned no ARN'), { name: 'RegisterTaskDefinitionFailure' });
  const updated = await step('UpdateService', () =>
    ecs.send(new UpdateServiceCommand({ cluster: clusterArn, service: serviceArn, taskDefinition: taskDefinitionArn })),
  );
  return { taskDefinitionArn, deploymentId: primaryDeploymentId(updated.service?.deployments) };
}

/** A new deployment of the service's current revision (a manual refresh of an unchanged config restarts its tasks). */
export async function restartService(ecs: ECSClient, clusterArn: string, serviceArn: string): Promise<string> {
  const updated = await step('UpdateService', () =>
    ecs.send(new UpdateServiceCommand({ cluster: clusterArn, service: serviceArn, forceNewDeployment: true })),
  );
  return primaryDeploymentId(updated.service?.deployments);
}

function primaryDeploymentId(deployments: readonly Deployment[] | undefined): string {
  const primary = deployments?.find((deployment) => deployment.status === 'PRIMARY') ?? deployments?.[0];
  return primary?.id ?? 'unknown';
}

/**
 * Deletes refresh copies of the service's files that no longer serve: it keeps every copy `keep`
 * names (the revisions just replaced and just registered) and the newest
 * {@link COPIES_KEPT_PER_FILE} versions of each file, for rollbacks across overlapping rollouts.
 * The stack's own copies belong to CloudFormation and are never touched. Returns the deleted names.
 */
export async function pruneCopies(ssm: SSMClient, configNames: readonly string[], keep: ReadonlySet<string>): Promise<string[]> {
  const paths = [...new Set(configNames.map((name) => deployedConfigPath(name)))];
  const found: Array<{ name: string; copy: DeployedConfigName }> = [];
  for (const path of paths) {
    const pages = paginateDescribeParameters(
      { client: ssm, pageSize: 50 },
      { ParameterFilters: [{ Key: 'Name', Option: 'BeginsWith', Values: [`${path}/v`] }] },
    );
    for await (const page of pages) {
      for (const parameter of page.Parameters ?? []) {
        const copy = parameter.Name ? parseDeployedConfigName(parameter.Name) : undefined;
        // Only the file's own copies: `…/mimir.yaml/v…`, not those of a file below it.
        if (copy && copy.version !== null && deployedConfigPath(copy.configName) === path)
          found.push({ name: parameter.Name as string, copy });
      }
    }
  }
  const newest = new Map<string, number[]>();
  for (const { copy } of found) newest.set(copy.configName, [...(newest.get(copy.configName) ?? []), copy.version as number]);
  const kept = new Set<string>();
  for (const [configName, versions] of newest) {
    const top = [...new Set(versions)].sort((a, b) => b - a).slice(0, COPIES_KEPT_PER_FILE);
    for (const { name, copy } of found) if (copy.configName === configName && top.includes(copy.version as number)) kept.add(name);
  }
  const doomed = found.map(({ name }) => name).filter((name) => !keep.has(name) && !kept.has(name));
  for (const names of chunk(doomed, 10)) await ssm.send(new DeleteParametersCommand({ Names: names }));
  return doomed;
}

/** The versions a revision delivers, from its copies' names (the stack's own copies carry none). */
export function deliveredVersions(taskDefinition: TaskDefinition): ParameterVersion[] {
  return deliveredFiles(taskDefinition)
    .filter((file) => file.copy.version !== null)
    .map((file) => ({ name: file.copy.configName, version: file.copy.version as number }));
}

/** The revision a (failed) deployment of the service was rolling out and its versions; undefined once ECS no longer lists it. */
export async function failedRevision(
  ecs: ECSClient,
  clusterArn: string,
  serviceArn: string,
  deploymentId: string,
): Promise<{ readonly taskDefinitionArn: string; readonly versions: ParameterVersion[] } | undefined> {
  const service = await describeService(ecs, clusterArn, serviceArn);
  const deployment = service.deployments?.find((candidate) => candidate.id === deploymentId);
  if (!deployment?.taskDefinition) return undefined;
  const result = await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: deployment.taskDefinition }));
  return result.taskDefinition
    ? { taskDefinitionArn: deployment.taskDefinition, versions: deliveredVersions(result.taskDefinition) }
    : undefined;
}
