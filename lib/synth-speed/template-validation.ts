import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { CloudFormationValidatePlugin, type IPolicyValidationContext, type PolicyValidationPluginReport } from 'aws-cdk-lib/core';

/**
 * The resource types this app's templates hold, for every option of the configuration (test/
 * template-validation.test.ts checks the list against synthesized templates). A type missing here
 * costs time, never correctness: the validation engine is then built again for the real types.
 */
export const EXPECTED_RESOURCE_TYPES: readonly string[] = [
  'AWS::CloudWatch::Alarm',
  'AWS::EC2::EIP',
  'AWS::EC2::FlowLog',
  'AWS::EC2::InternetGateway',
  'AWS::EC2::NatGateway',
  'AWS::EC2::Route',
  'AWS::EC2::RouteTable',
  'AWS::EC2::SecurityGroup',
  'AWS::EC2::SecurityGroupEgress',
  'AWS::EC2::SecurityGroupIngress',
  'AWS::EC2::Subnet',
  'AWS::EC2::SubnetRouteTableAssociation',
  'AWS::EC2::VPC',
  'AWS::EC2::VPCEndpoint',
  'AWS::DynamoDB::Table',
  'AWS::EC2::VPCGatewayAttachment',
  'AWS::ECR::PullThroughCacheRule',
  'AWS::ECS::Cluster',
  'AWS::ECS::Service',
  'AWS::ECS::TaskDefinition',
  'AWS::EFS::AccessPoint',
  'AWS::EFS::FileSystem',
  'AWS::EFS::MountTarget',
  'AWS::ElasticLoadBalancingV2::Listener',
  'AWS::ElasticLoadBalancingV2::ListenerRule',
  'AWS::ElasticLoadBalancingV2::LoadBalancer',
  'AWS::ElasticLoadBalancingV2::TargetGroup',
  'AWS::Events::EventBus',
  'AWS::Events::Rule',
  'AWS::IAM::Policy',
  'AWS::IAM::Role',
  'AWS::Lambda::EventInvokeConfig',
  'AWS::Lambda::EventSourceMapping',
  'AWS::Lambda::Function',
  'AWS::Lambda::Permission',
  'AWS::Logs::LogGroup',
  'AWS::Logs::MetricFilter',
  'AWS::S3::Bucket',
  'AWS::S3::BucketPolicy',
  'AWS::SNS::Subscription',
  'AWS::SNS::Topic',
  'AWS::SNS::TopicPolicy',
  'AWS::SQS::Queue',
  'AWS::SQS::QueuePolicy',
  'AWS::SSM::Document',
  'AWS::SSM::Parameter',
  'AWS::SecretsManager::Secret',
  'AWS::ServiceDiscovery::PrivateDnsNamespace',
  'AWS::ServiceDiscovery::Service',
  'Custom::VpcRestrictDefaultSG',
];

export interface BackgroundTemplateValidationOptions {
  /** Resource types to build the engine for ahead of the templates. @default EXPECTED_RESOURCE_TYPES */
  readonly resourceTypes?: readonly string[];
  /** How long synth waits for the worker before validating in the main thread instead. @default 2 minutes */
  readonly timeoutMs?: number;
  /** Module the worker loads CloudFormationValidatePlugin from (tests point it elsewhere). @default aws-cdk-lib */
  readonly pluginModule?: string;
}

/**
 * Runs in the worker: builds CDK's own validation plugin and its engine at once (by validating a
 * template with one empty resource of each expected type, whose findings are thrown away), then
 * validates the real templates when synth sends them. It answers exactly once, through `replies`,
 * and then sets `answered`: the validation report, or the error that stopped it, even one thrown
 * while starting, so that synth never waits for a worker that has already failed.
 */
const WORKER_SOURCE = `
const { rmSync } = require('node:fs');
const { workerData, parentPort } = require('node:worker_threads');
const { replies, answered, pluginModule, prewarmDir, prewarmTemplate } = workerData;
function firstLine(error) {
  return String((error && error.message) || error).split('\\n')[0];
}
function answer(reply) {
  if (Atomics.load(answered, 0) === 1) return;
  replies.postMessage(reply);
  Atomics.store(answered, 0, 1);
  Atomics.notify(answered, 0);
}
// A worker that ends any other way (process.exit, an asynchronous throw) still answers, so that
// synth falls back at once instead of waiting for the timeout.
process.on('exit', (code) => answer({ error: 'worker exited with code ' + code }));
try {
  const { CloudFormationValidatePlugin } = require(pluginModule);
  const plugin = new CloudFormationValidatePlugin();
  try {
    plugin.validate({ stackTemplates: [{ stackConstructPath: 'Prewarm', templatePath: prewarmTemplate }] });
  } catch {
    // Only a head start: the real validation builds the engine again if it must, and reports its own errors.
  } finally {
    rmSync(prewarmDir, { recursive: true, force: true });
  }
  parentPort.once('message', ({ stackTemplates }) => {
    try {
      answer({ report: plugin.validate({ stackTemplates }) });
    } catch (error) {
      answer({ error: firstLine(error) });
    }
  });
} catch (error) {
  rmSync(prewarmDir, { recursive: true, force: true });
  answer({ error: 'worker failed to start: ' + firstLine(error) });
}
`;

interface WorkerReply {
  readonly report?: PolicyValidationPluginReport;
  readonly error?: string;
}

/**
 * CDK's built-in CloudFormation template validation (the same plugin, rules and report), with its
 * engine built in a worker thread while the app is still constructing and cdk-nag is running.
 * Building the engine (a 9 MB WebAssembly module, the resource schemas and the rules of the
 * template's resource types) takes about 1.5 s on 2 cores, the largest single part of this app's
 * synth; in the worker it overlaps with the rest of synthesis.
 *
 * Register it on the App before constructing the stacks. Being a CloudFormationValidatePlugin, it
 * replaces CDK's default instance, so the templates are validated once, and the feature flag
 * `@aws-cdk/core:validateAgainstDefaultRules` applies to its findings as to CDK's own. If the worker
 * cannot start, fails, or does not answer in time, the templates are validated in the main thread as
 * CDK would, after a one-line notice on stderr.
 */
export class BackgroundTemplateValidation extends CloudFormationValidatePlugin {
  private readonly timeoutMs: number;
  /** Set to 1 by the worker once its one answer is on `replies`. */
  private readonly answered = new Int32Array(new SharedArrayBuffer(4));
  private readonly replies: MessagePort;
  private readonly prewarmDir: string;
  private readonly worker?: Worker;
  private readonly startError?: string;
  private asked = false;

  constructor(options: BackgroundTemplateValidationOptions = {}) {
    super();
    this.timeoutMs = options.timeoutMs ?? 120_000;
    // The worker deletes it once the engine is built (and validate() again, for a worker stopped early).
    const prewarmDir = mkdtempSync(join(tmpdir(), 'lgtm-validate-'));
    this.prewarmDir = prewarmDir;
    const prewarmTemplate = join(prewarmDir, 'prewarm.template.json');
    const types = options.resourceTypes ?? EXPECTED_RESOURCE_TYPES;
    const resources = Object.fromEntries(types.map((type, index) => [`Resource${index}`, { Type: type, Properties: {} }]));
    writeFileSync(prewarmTemplate, JSON.stringify({ Resources: resources }));
    const { port1, port2 } = new MessageChannel();
    this.replies = port1;
    this.replies.unref();
    try {
      this.worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: {
          pluginModule: options.pluginModule ?? require.resolve('aws-cdk-lib'),
          prewarmDir,
          prewarmTemplate,
          replies: port2,
          answered: this.answered,
        },
        transferList: [port2],
      });
      // Never keeps the app alive: synth ends whether or not the worker is done.
      this.worker.unref();
      // An error the worker did not catch reaches synth as its answer (see WORKER_SOURCE); without
      // a listener it would also end the app once the main thread's event loop runs again.
      this.worker.on('error', () => {});
    } catch (error) {
      rmSync(prewarmDir, { recursive: true, force: true });
      this.startError = `cannot start a worker thread: ${(error as Error).message}`;
    }
  }

  public validate(context: IPolicyValidationContext): PolicyValidationPluginReport {
    // The worker answers one request: CDK validates every stack of an app in one call.
    if (this.asked) return super.validate(context);
    this.asked = true;
    const reply = this.askWorker(context);
    void this.worker?.terminate();
    this.replies.close();
    rmSync(this.prewarmDir, { recursive: true, force: true });
    if (reply.report) return reply.report;
    process.stderr.write(`lgtm-fleet: template validation in a worker thread failed (${reply.error}); validating in the main thread\n`);
    return super.validate(context);
  }

  private askWorker(context: IPolicyValidationContext): WorkerReply {
    if (!this.worker) return { error: this.startError };
    // Plain data only: the context object itself may carry more than a message can.
    const stackTemplates = context.stackTemplates.map(({ stackConstructPath, templatePath, accountId, region }) => ({
      stackConstructPath,
      templatePath,
      accountId,
      region,
    }));
    this.worker.postMessage({ stackTemplates });
    // The plugin API is synchronous: block until the worker answers (its engine may still be building).
    if (Atomics.wait(this.answered, 0, 0, this.timeoutMs) === 'timed-out') {
      return { error: `no answer within ${this.timeoutMs / 1000} s` };
    }
    return (receiveMessageOnPort(this.replies)?.message as WorkerReply | undefined) ?? { error: 'the worker answered nothing' };
  }
}
