import {
  type Deployment,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  type DescribeTaskDefinitionCommandInput,
  ECSClient,
  RegisterTaskDefinitionCommand,
  type RegisterTaskDefinitionCommandInput,
  type Tag,
  type TaskDefinition,
  UpdateServiceCommand,
  type UpdateServiceCommandInput,
} from '@aws-sdk/client-ecs';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendMessageBatchCommand, type SendMessageBatchRequestEntry, SQSClient } from '@aws-sdk/client-sqs';
import {
  type Command,
  DeleteParametersCommand,
  type DeleteParametersCommandInput,
  DescribeParametersCommand,
  type DescribeParametersCommandInput,
  GetParametersByPathCommand,
  type GetParametersByPathCommandInput,
  GetParametersCommand,
  ListCommandsCommand,
  type ListCommandsCommandInput,
  type Parameter,
  type ParameterType,
  PutParameterCommand,
  type PutParameterCommandInput,
  SendCommandCommand,
  type SendCommandCommandInput,
  SSMClient,
} from '@aws-sdk/client-ssm';
import type { SQSBatchResponse, SQSRecord } from 'aws-lambda';
import { resolveConfig } from '../../../bin/config-source';
import { renderAll } from '../../../bin/render';
import { processBatch, type RefreshDependencies } from '../../../lambdas/refresh/process-batch';
import { loadRefreshSettings, type RefreshSettings } from '../../../lambdas/refresh/settings';
import { AgentCredentials } from '../../../lambdas/shared/agent-credential';
import { CONFIG_INIT_CONTAINER, configDigest, deployedConfigName } from '../../../lambdas/shared/config-files';
import { agentCredentialSecretPrefixOf, PARAMETER_VALUE_MAX_BYTES, type RefreshEnvironment } from '../../../lambdas/shared/contract';
import { mockClient } from '../../support/sdk-call-recorder';
import { awsError } from '../fixtures';
import { acceptMessages, putEvents } from '../harness/bus';
import { ACCOUNT, entriesOf, FakeAccount, inputsOf, REGION } from '../harness/fake-account';
import { copyingInputs, page } from '../harness/listing';
import { agentCredentialSecrets, getSecretValue } from '../harness/secrets';
import { settingsWith } from '../harness/settings';
import { getParameters } from '../harness/ssm';

/** Re-exported for the tests that build errors beside this fake. */
export { ACCOUNT, awsError, REGION };

export const CLUSTER_ARN = `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/lgtm`;
export const serviceArn = (name: string): string => `arn:aws:ecs:${REGION}:${ACCOUNT}:service/lgtm/lgtm-${name}`;

/** The environment the CDK construct is expected to give the refresh function (names as in the sample events). */
export const TEST_ENV = {
  PARAMETER_PREFIX: '/lgtm',
  LINUX_DOCUMENT_NAME: 'lgtm-install-alloy-linux',
  WINDOWS_DOCUMENT_NAME: 'lgtm-install-alloy-windows',
  ALLOY_VERSION: '1.21.0',
  STOP_LEGACY_AGENTS: 'true',
  ALLOWED_TENANTS: 'aws-rag-ec2,team-a',
  MAX_CONCURRENCY: '10%',
  MAX_ERRORS: '1',
  COMMAND_TIMEOUT_SECONDS: '600',
  COMMAND_LOG_GROUP: '',
  MAX_CONFIG_BYTES: String(PARAMETER_VALUE_MAX_BYTES),
  CLUSTER_ARN,
  SERVICES: JSON.stringify({
    mimir: serviceArn('mimir'),
    loki: serviceArn('loki'),
    tempo: serviceArn('tempo'),
    grafana: serviceArn('grafana'),
  }),
  EVENT_BUS_NAME: 'lgtm',
  EVENT_SOURCE: 'lgtm-fleet',
  DEAD_LETTER_QUEUE_URL: `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/lgtm-refresh-dlq`,
} satisfies RefreshEnvironment;

export const testSettings = settingsWith(TEST_ENV, loadRefreshSettings);

/** The agent credentials' prefix the stack sets with `ingest.tenantBinding` (TEST_ENV leaves it out, as the default stack does). */
export const SECRET_PREFIX = agentCredentialSecretPrefixOf('lgtm');
export const bindingSettings = (): RefreshSettings => testSettings({ AGENT_CREDENTIAL_SECRET_PREFIX: SECRET_PREFIX });

/** A valid config per parameter, rendered by the stack's own renderers (agent configs: a small Alloy file). */
export const RENDERED: ReadonlyMap<string, string> = (() => {
  const config = resolveConfig({ inline: { stackName: 'lgtm' } });
  const files = new Map<string, string>();
  for (const document of renderAll(config)) {
    if (document.parameter) files.set(document.parameter, document.content);
  }
  return files;
})();

let edits = 0;

/** A rendered YAML config with a harmless change (a comment), so that it differs from what runs. */
export function edited(name: string): string {
  const value = RENDERED.get(name);
  if (value === undefined || name.endsWith('.json')) throw new Error(`no rendered YAML config ${name}`);
  edits += 1;
  return `${value.trimEnd()}\n# edited ${edits}\n`;
}

export const ALLOY_CONFIG = [
  'prometheus.exporter.unix "host" { }',
  'prometheus.scrape "host" {',
  '  targets    = prometheus.exporter.unix.host.targets',
  '  forward_to = [prometheus.remote_write.mimir.receiver]',
  '}',
  'prometheus.remote_write "mimir" {',
  '  endpoint {',
  '    url     = "http://mimir.lgtm.internal:8080/api/v1/push"',
  '    headers = { "X-Scope-OrgID" = sys.env("LGTM_TENANT") }',
  '  }',
  '}',
  '',
].join('\n');

export interface FakeService {
  taskDefinition: string;
  lastCompleted: string;
  /** Init container variable → the value its tasks started with. */
  running: Map<string, string>;
}

/** What DescribeTaskDefinition returns that RegisterTaskDefinition does not take (the API refuses them). */
const READ_ONLY_FIELDS = [
  'taskDefinitionArn',
  'revision',
  'status',
  'requiresAttributes',
  'compatibilities',
  'registeredAt',
  'registeredBy',
  'deregisteredAt',
];

export interface FakeParameter {
  value: string;
  version: number;
  lastModified: Date;
  type?: string;
}

/** A tagged, enrolled instance, as Run Command would resolve tag targets. */
export interface FakeInstance {
  readonly id: string;
  readonly tags: Record<string, string>;
}

/** When the sample Parameter Store events happened. */
export const CHANGE_TIME = new Date('2026-11-23T12:40:48Z');

/**
 * Mocked AWS clients behaving like a small account: Parameter Store holds every config parameter
 * of the stack, Run Command resolves tag targets against a fleet and remembers commands for
 * ListCommands, ECS keeps each service's deployments for DescribeServices.
 */
export class FakeAws extends FakeAccount {
  readonly ssmClient = new SSMClient({ region: REGION });
  readonly ecsClient = new ECSClient({ region: REGION });
  readonly eventBridgeClient = new EventBridgeClient({ region: REGION });
  readonly sqsClient = new SQSClient({ region: REGION });
  readonly secretsManagerClient = new SecretsManagerClient({ region: REGION });

  readonly ssm = mockClient(this.ssmClient);
  readonly ecs = mockClient(this.ecsClient);
  readonly eventBridge = mockClient(this.eventBridgeClient);
  readonly sqs = mockClient(this.sqsClient);
  readonly secretsManager = mockClient(this.secretsManagerClient);
  /** One per function, as at module level in the handler: its cache outlives an invocation. */
  readonly agentCredentials = new AgentCredentials(
    () => this.secretsManagerClient,
    () => this.now.getTime(),
  );
  /** Secret name → value: each allowed tenant's agent credential. */
  readonly secrets = agentCredentialSecrets(SECRET_PREFIX, ['aws-rag-ec2', 'team-a']);

  readonly parameters = new Map<string, FakeParameter>();
  readonly fleet: FakeInstance[] = [];
  /** Commands sent, with the instances their tag targets resolved to. */
  readonly commands: Array<Command & { resolvedInstances: string[] }> = [];
  readonly deployments = new Map<string, Deployment[]>();
  /** Task definition revisions by ARN, with their tags. */
  readonly taskDefinitions = new Map<string, { taskDefinition: TaskDefinition; tags: Tag[] }>();
  /** Per service: the task definition it is set to, the last deployment that completed, and what its tasks run. */
  readonly services = new Map<string, FakeService>();

  /** Clock of the fake services (command and deployment times). */
  now = new Date('2026-11-23T12:41:40Z');
  private counter = 0;
  /** GetParametersByPath inputs, copied as each page was asked for. */
  private readonly getParametersByPathSent: GetParametersByPathCommandInput[] = [];

  constructor() {
    super('refresh');
    for (const [name, value] of RENDERED) this.put(name, value, 3, new Date('2026-11-20T08:00:00Z'));
    for (const tenant of ['aws-rag-ec2', 'team-a']) {
      for (const platform of ['linux', 'windows'])
        this.put(`/lgtm/agent/${tenant}/${platform}`, ALLOY_CONFIG, 2, new Date('2026-11-20T08:00:00Z'));
    }
    for (const [service, arn] of Object.entries(JSON.parse(TEST_ENV.SERVICES as string) as Record<string, string>)) {
      this.deployService(service, arn);
    }
    this.stubDefaults();
  }

  /**
   * The service as the stack deploys it: revision 1 of its family, whose init container reads the
   * stack's copies of the service's files (made here from the rendered values), running and completed.
   */
  deployService(service: string, arn: string, prefix = '/lgtm'): void {
    const base = `${prefix}/config/${service}`;
    const files = [...this.parameters.keys()].filter((name) => name === base || name.startsWith(`${base}/`));
    const secrets = files.map((name, index) => {
      const value = this.parameters.get(name)?.value as string;
      const copy = deployedConfigName(name, 'stack', configDigest(JSON.stringify(value)));
      this.put(copy, value, 1, new Date('2026-11-20T08:00:00Z'));
      return { name: `CONFIG_${index}`, valueFrom: `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter${copy}` };
    });
    const family = `lgtm-${service}`;
    const taskDefinitionArn = `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/${family}:1`;
    this.taskDefinitions.set(taskDefinitionArn, {
      taskDefinition: {
        taskDefinitionArn,
        family,
        revision: 1,
        status: 'ACTIVE',
        taskRoleArn: `arn:aws:iam::${ACCOUNT}:role/${family}-task`,
        executionRoleArn: `arn:aws:iam::${ACCOUNT}:role/${family}-execution`,
        networkMode: 'awsvpc',
        requiresCompatibilities: ['FARGATE'],
        compatibilities: ['EC2', 'FARGATE'],
        cpu: '512',
        memory: '1024',
        runtimePlatform: { cpuArchitecture: 'ARM64', operatingSystemFamily: 'LINUX' },
        registeredAt: new Date('2026-11-20T08:00:00Z'),
        registeredBy: `arn:aws:iam::${ACCOUNT}:role/cfn`,
        volumes: [{ name: 'config' }],
        containerDefinitions: [
          {
            name: service,
            image: `grafana/${service}:latest`,
            essential: true,
            dependsOn: [{ containerName: CONFIG_INIT_CONTAINER, condition: 'SUCCESS' }],
          },
          {
            name: CONFIG_INIT_CONTAINER,
            image: 'public.ecr.aws/docker/library/busybox:1.37',
            essential: false,
            command: ['set -e && printf "%s" "$CONFIG_0" > /config/file'],
            secrets,
          },
        ],
      },
      tags: [
        { key: 'project', value: 'lgtm-fleet' },
        { key: 'aws:cloudformation:stack-name', value: 'lgtm' },
      ],
    });
    const deployment: Deployment = {
      id: `ecs-svc/${service}-stack`,
      status: 'PRIMARY',
      taskDefinition: taskDefinitionArn,
      rolloutState: 'COMPLETED',
      createdAt: new Date('2026-11-20T08:00:00Z'),
    };
    this.deployments.set(arn, [deployment]);
    this.services.set(arn, {
      taskDefinition: taskDefinitionArn,
      lastCompleted: taskDefinitionArn,
      running: this.configOf(taskDefinitionArn),
    });
  }

  /** The files a revision's tasks start with: each secret of the init container, read from Parameter Store now. */
  configOf(taskDefinitionArn: string): Map<string, string> {
    const entry = this.taskDefinitions.get(taskDefinitionArn);
    if (!entry) throw new Error(`no task definition ${taskDefinitionArn}`);
    const init = entry.taskDefinition.containerDefinitions?.find((container) => container.name === CONFIG_INIT_CONTAINER);
    const config = new Map<string, string>();
    for (const secret of init?.secrets ?? []) {
      const name = (secret.valueFrom as string).replace(/^arn:[^:]+:ssm:[^:]+:\d+:parameter/, '');
      const parameter = this.parameters.get(name);
      // ECS stops a task whose secret cannot be read (ResourceNotFoundException): it never becomes healthy.
      if (!parameter) throw new Error(`ResourceNotFoundException: ${name}`);
      config.set(secret.name as string, parameter.value);
    }
    return config;
  }

  /**
   * ECS finishes the service's newest deployment: its tasks start with their revision's config, and
   * `healthy` (the backend) decides whether they pass their health checks. A deployment whose tasks
   * fail is FAILED and the circuit breaker rolls back to the last revision that completed, whose
   * tasks start again. Returns the deployment state events ECS would publish.
   */
  settle(serviceArnValue: string, healthy: (config: Map<string, string>) => boolean): Array<{ eventName: string; deploymentId: string }> {
    const service = this.services.get(serviceArnValue) as FakeService;
    const deployments = this.deployments.get(serviceArnValue) ?? [];
    const primary = deployments.find((deployment) => deployment.status === 'PRIMARY') as Deployment;
    let config: Map<string, string> | undefined;
    try {
      config = this.configOf(service.taskDefinition);
    } catch {
      config = undefined;
    }
    if (config && healthy(config)) {
      primary.rolloutState = 'COMPLETED';
      service.lastCompleted = service.taskDefinition;
      service.running = config;
      this.deployments.set(serviceArnValue, [primary]);
      return [{ eventName: 'SERVICE_DEPLOYMENT_COMPLETED', deploymentId: primary.id as string }];
    }
    primary.rolloutState = 'FAILED';
    this.counter += 1;
    const rollback: Deployment = {
      id: `ecs-svc/${1000 + this.counter}`,
      status: 'PRIMARY',
      taskDefinition: service.lastCompleted,
      rolloutState: 'COMPLETED',
      createdAt: this.now,
    };
    service.taskDefinition = service.lastCompleted;
    service.running = this.configOf(service.lastCompleted);
    this.deployments.set(serviceArnValue, [rollback, { ...primary, status: 'ACTIVE' }]);
    return [
      { eventName: 'SERVICE_DEPLOYMENT_FAILED', deploymentId: primary.id as string },
      { eventName: 'SERVICE_DEPLOYMENT_COMPLETED', deploymentId: rollback.id as string },
    ];
  }

  /** A task is replaced (a crash, a Fargate retirement): the new one starts with the service's revision as it is now. */
  replaceTask(serviceArnValue: string): Map<string, string> {
    const service = this.services.get(serviceArnValue) as FakeService;
    service.running = this.configOf(service.taskDefinition);
    return service.running;
  }

  /** Input of every GetParametersByPath call, in order, as sent. */
  getParametersByPathInputs(): GetParametersByPathCommandInput[] {
    return [...this.getParametersByPathSent];
  }

  /** Task definition revisions registered by the handler. */
  registeredTaskDefinitions(): RegisterTaskDefinitionCommandInput[] {
    return inputsOf(this.ecs.commandCalls(RegisterTaskDefinitionCommand));
  }

  put(name: string, value: string, version: number, lastModified = CHANGE_TIME, type = 'String'): this {
    this.parameters.set(name, { value, version, lastModified, type });
    return this;
  }

  /** Adds `count` enrolled instances of a tenant and platform. */
  enroll(tenant: string, platform: string, count: number): this {
    for (let index = 0; index < count; index++) {
      this.counter += 1;
      this.fleet.push({
        id: `i-${this.counter.toString(16).padStart(17, '0')}`,
        tags: { 'lgtm:agent-tenant': tenant, 'lgtm:agent-platform': platform, 'lgtm:agent-status': 'success' },
      });
    }
    return this;
  }

  dependencies(settings: RefreshSettings = testSettings()): RefreshDependencies {
    return {
      clients: {
        ssm: this.ssmClient,
        ecs: this.ecsClient,
        eventBridge: this.eventBridgeClient,
        sqs: this.sqsClient,
        agentCredentials: this.agentCredentials,
      },
      settings,
      logger: this.logger,
      metrics: this.metrics,
    };
  }

  process(records: SQSRecord[], settings?: RefreshSettings): Promise<SQSBatchResponse> {
    return processBatch({ Records: records }, this.dependencies(settings));
  }

  sendCommands(): SendCommandCommandInput[] {
    return inputsOf(this.ssm.commandCalls(SendCommandCommand));
  }

  updateServices(): UpdateServiceCommandInput[] {
    return inputsOf(this.ecs.commandCalls(UpdateServiceCommand));
  }

  /** Rollouts started: SendCommand plus UpdateService calls. */
  rollouts(): number {
    return this.sendCommands().length + this.updateServices().length;
  }

  /** Events put on the bus, with the detail parsed. */
  published(): Array<{ detailType: string; source: string; bus: string; detail: Record<string, unknown> }> {
    return entriesOf(this.eventBridge.commandCalls(PutEventsCommand)).map((entry) => ({
      detailType: entry.DetailType as string,
      source: entry.Source as string,
      bus: entry.EventBusName as string,
      detail: JSON.parse(entry.Detail as string) as Record<string, unknown>,
    }));
  }

  deadLetters(): SendMessageBatchRequestEntry[] {
    return entriesOf(this.sqs.commandCalls(SendMessageBatchCommand));
  }

  override resetCalls(): void {
    super.resetCalls();
    this.getParametersByPathSent.length = 0;
  }

  protected mockedClients() {
    return [this.ssm, this.ecs, this.eventBridge, this.sqs, this.secretsManager];
  }

  private stubDefaults(): void {
    this.ssm.on(GetParametersCommand).callsFake((input) => getParameters(input, (name) => this.toParameter(name)));
    this.secretsManager.on(GetSecretValueCommand).callsFake((input) => getSecretValue(this.secrets, input));
    this.ssm.on(GetParametersByPathCommand).callsFake(
      copyingInputs(this.getParametersByPathSent, (input: GetParametersByPathCommandInput) => {
        const path = `${input.Path}/`;
        const names = [...this.parameters.keys()].filter(
          (name) => name.startsWith(path) && (input.Recursive || !name.slice(path.length).includes('/')),
        );
        const max = input.MaxResults ?? 10;
        if (max > 10) throw awsError('ValidationException', 'MaxResults at most 10');
        const { items, nextToken } = page(names, input.NextToken, max, '');
        return { Parameters: items.flatMap((name) => this.toParameter(name) ?? []), NextToken: nextToken };
      }),
    );
    this.ssm.on(SendCommandCommand).callsFake((input: SendCommandCommandInput) => {
      if ((input.InstanceIds ?? []).length > 50) throw awsError('ValidationException', 'at most 50 instance IDs');
      if ((input.Comment ?? '').length > 100) throw awsError('ValidationException', 'Comment is at most 100 characters');
      this.counter += 1;
      // Tag targets select the instances carrying every listed tag key with one of its values.
      const resolved = this.fleet
        .filter((instance) =>
          (input.Targets ?? []).every((target) =>
            (target.Values ?? []).includes(instance.tags[(target.Key ?? '').replace(/^tag:/, '')] ?? ''),
          ),
        )
        .map((instance) => instance.id);
      const command = {
        CommandId: `command-${this.counter}`,
        DocumentName: input.DocumentName,
        Comment: input.Comment,
        RequestedDateTime: this.now,
        Targets: input.Targets,
        TargetCount: resolved.length,
        resolvedInstances: resolved,
      };
      this.commands.push(command);
      return { Command: command };
    });
    this.ssm.on(ListCommandsCommand).callsFake((input: ListCommandsCommandInput) => {
      const document = input.Filters?.find((filter) => filter.key === 'DocumentName')?.value;
      const after = input.Filters?.find((filter) => filter.key === 'InvokedAfter')?.value;
      const matching = this.commands.filter(
        (command) =>
          (document === undefined || command.DocumentName === document) &&
          (after === undefined || (command.RequestedDateTime as Date).getTime() >= Date.parse(after)),
      );
      return { Commands: matching.map(({ resolvedInstances: _, ...command }) => command) };
    });
    this.ecs.on(UpdateServiceCommand).callsFake((input: UpdateServiceCommandInput) => {
      const service = this.services.get(input.service as string);
      if (!service) throw awsError('ServiceNotFoundException', 'Service not found.');
      if (input.taskDefinition !== undefined) {
        if (!this.taskDefinitions.has(input.taskDefinition))
          throw awsError('ClientException', `TaskDefinition not found: ${input.taskDefinition}`);
        service.taskDefinition = input.taskDefinition;
      }
      this.counter += 1;
      const deployment: Deployment = {
        id: `ecs-svc/${1000 + this.counter}`,
        status: 'PRIMARY',
        taskDefinition: service.taskDefinition,
        createdAt: this.now,
        rolloutState: 'IN_PROGRESS',
      };
      const previous = (this.deployments.get(input.service as string) ?? []).map((d) => ({ ...d, status: 'ACTIVE' }));
      this.deployments.set(input.service as string, [deployment, ...previous]);
      return { service: { serviceArn: input.service, taskDefinition: service.taskDefinition, deployments: [deployment, ...previous] } };
    });
    this.ecs.on(DescribeServicesCommand).callsFake((input: { services: string[] }) => ({
      services: input.services
        .filter((arn) => this.services.has(arn))
        .map((arn) => ({
          serviceArn: arn,
          taskDefinition: this.services.get(arn)?.taskDefinition,
          deployments: this.deployments.get(arn) ?? [],
        })),
      failures: input.services.filter((arn) => !this.services.has(arn)).map((arn) => ({ arn, reason: 'MISSING' })),
    }));
    this.ecs.on(DescribeTaskDefinitionCommand).callsFake((input: DescribeTaskDefinitionCommandInput) => {
      const entry = this.taskDefinitions.get(input.taskDefinition as string);
      if (!entry) throw awsError('ClientException', 'Unable to describe task definition.');
      return { taskDefinition: structuredClone(entry.taskDefinition), ...(input.include?.includes('TAGS') ? { tags: entry.tags } : {}) };
    });
    this.ecs.on(RegisterTaskDefinitionCommand).callsFake((input: RegisterTaskDefinitionCommandInput) => {
      const unknown = Object.keys(input).filter((key) => READ_ONLY_FIELDS.includes(key));
      if (unknown.length > 0) throw awsError('ClientException', `unknown fields ${unknown.join(', ')}`);
      if (!input.family || !input.containerDefinitions?.length)
        throw awsError('ClientException', 'family and containerDefinitions are required');
      if ((input.tags ?? []).some((tag) => tag.key?.startsWith('aws:')))
        throw awsError('ClientException', 'Tag keys starting with aws: are reserved');
      const revision =
        1 +
        Math.max(
          0,
          ...[...this.taskDefinitions.values()]
            .filter((e) => e.taskDefinition.family === input.family)
            .map((e) => e.taskDefinition.revision ?? 0),
        );
      const taskDefinitionArn = `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/${input.family}:${revision}`;
      const { tags, ...definition } = structuredClone(input);
      const taskDefinition = { ...definition, taskDefinitionArn, revision, status: 'ACTIVE', registeredAt: this.now } as TaskDefinition;
      this.taskDefinitions.set(taskDefinitionArn, { taskDefinition, tags: tags ?? [] });
      return { taskDefinition, tags };
    });
    this.ssm.on(PutParameterCommand).callsFake((input: PutParameterCommandInput) => {
      const name = input.Name as string;
      const existing = this.parameters.get(name);
      if (existing && !input.Overwrite) throw awsError('ParameterAlreadyExists', 'The parameter already exists.');
      this.put(name, input.Value as string, (existing?.version ?? 0) + 1, this.now, input.Type);
      return { Version: (existing?.version ?? 0) + 1, Tier: 'Standard' };
    });
    this.ssm.on(DescribeParametersCommand).callsFake((input: DescribeParametersCommandInput) => {
      const begins = input.ParameterFilters?.find((filter) => filter.Key === 'Name' && filter.Option === 'BeginsWith')?.Values?.[0] ?? '';
      const names = [...this.parameters.keys()].filter((name) => name.startsWith(begins)).sort();
      const { items, nextToken } = page(names, input.NextToken, input.MaxResults ?? 50, '');
      return { Parameters: items.map((name) => ({ Name: name, Version: this.parameters.get(name)?.version })), NextToken: nextToken };
    });
    this.ssm.on(DeleteParametersCommand).callsFake((input: DeleteParametersCommandInput) => {
      if ((input.Names ?? []).length > 10) throw awsError('ValidationException', 'at most 10 names');
      const deleted = (input.Names ?? []).filter((name) => this.parameters.delete(name));
      return { DeletedParameters: deleted, InvalidParameters: (input.Names ?? []).filter((name) => !deleted.includes(name)) };
    });
    this.eventBridge.on(PutEventsCommand).callsFake((input) => putEvents(input));
    this.sqs.on(SendMessageBatchCommand).callsFake(acceptMessages);
  }

  private toParameter(name: string): Parameter | undefined {
    const parameter = this.parameters.get(name);
    if (parameter === undefined) return undefined;
    return {
      Name: name,
      Type: (parameter.type ?? 'String') as ParameterType,
      Value: parameter.value,
      Version: parameter.version,
      LastModifiedDate: parameter.lastModified,
      ARN: `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter${name}`,
      DataType: 'text',
    };
  }
}

let eventCounter = 0;

interface BusEventFields {
  readonly 'detail-type': string;
  readonly source: string;
  readonly time: string;
  readonly resources: string[];
  readonly detail: Record<string, unknown>;
}

/** An event as EventBridge delivers it from this account, with a new `<idPrefix>-<n>` ID. */
function busEvent(idPrefix: string, fields: BusEventFields): Record<string, unknown> {
  eventCounter += 1;
  const { 'detail-type': detailType, source, time, resources, detail } = fields;
  return {
    version: '0',
    id: `${idPrefix}-${eventCounter}`,
    'detail-type': detailType,
    source,
    account: ACCOUNT,
    time,
    region: REGION,
    resources,
    detail,
  };
}

/** A Parameter Store Change event, shaped like the sample events. */
export function changeEvent(name: string, operation = 'Update', time: Date = CHANGE_TIME): Record<string, unknown> {
  return busEvent('change', {
    'detail-type': 'Parameter Store Change',
    source: 'aws.ssm',
    time: time.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    resources: [`arn:aws:ssm:${REGION}:${ACCOUNT}:parameter${name}`],
    detail: { operation, name, type: 'String', description: '' },
  });
}

/** A `Config Refresh Requested` event as bin/refresh.ts puts it. */
export function manualEvent(detail: Record<string, unknown>, options: { source?: string; time?: Date } = {}): Record<string, unknown> {
  return busEvent('manual', {
    'detail-type': 'Config Refresh Requested',
    source: options.source ?? 'lgtm-fleet',
    time: (options.time ?? new Date('2026-11-23T12:41:00Z')).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    resources: [],
    detail,
  });
}

export function deploymentEvent(service: string, eventName: string, deploymentId: string, reason?: string): Record<string, unknown> {
  return busEvent('deployment', {
    'detail-type': 'ECS Deployment State Change',
    source: 'aws.ecs',
    time: '2026-11-23T12:50:00Z',
    resources: [serviceArn(service)],
    detail: { eventType: 'INFO', eventName, deploymentId, updatedAt: '2026-11-23T12:49:58Z', ...(reason ? { reason } : {}) },
  });
}

export function commandStatusEvent(
  status: string,
  parameters: Record<string, string[]>,
  documentName = 'lgtm-install-alloy-linux',
): Record<string, unknown> {
  return busEvent('command', {
    'detail-type': 'EC2 Command Status-change Notification',
    source: 'aws.ssm',
    time: '2026-11-23T12:50:00Z',
    resources: [],
    detail: {
      'command-id': 'c0ffee00-0000-4000-8000-000000000001',
      'document-name': documentName,
      'expire-after': '2026-11-23T14:41:40.000Z',
      parameters,
      'requested-date-time': '2026-11-23T12:41:40.000Z',
      status,
    },
  });
}
