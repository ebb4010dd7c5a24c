import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Aws, Stack, Validations } from 'aws-cdk-lib/core';
import { Construct } from 'constructs';
import { PULL_THROUGH_CACHE_SECRET_ARN } from './config/schema';

/** Host names under which Docker Hub images are referenced. */
const DOCKER_HUB_HOSTS = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/**
 * The repository path of a Docker Hub image (`grafana/mimir:3.2.1`, `library/memcached:1.6.45` for
 * an official image), or undefined for an image of another registry (`public.ecr.aws/...`).
 */
export function dockerHubPath(image: string): string | undefined {
  const [first, ...rest] = image.split('/');
  const hasHost = rest.length > 0 && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (hasHost && !DOCKER_HUB_HOSTS.has(first)) return undefined;
  const path = hasHost ? rest.join('/') : image;
  return path.includes('/') ? path : `library/${path}`;
}

/** Where a task pulls its images from (see {@link ImageRegistry}). */
export interface IImageRegistry {
  /** The reference a task pulls for `image`. */
  resolve(image: string): string;
  /** Lets `role` (a task execution role) pull `image`. */
  grantPull(role: iam.IRole, image: string): void;
}

export interface ImageRegistryProps {
  /**
   * Pull Docker Hub images through an ECR pull-through cache rule authenticated with this Secrets
   * Manager secret (its name must start with `ecr-pullthroughcache/`; it holds `username` and
   * `accessToken`). Anonymous Docker Hub pulls are rate-limited per source IP address, and every
   * task behind the NAT gateway shares one.
   * @default none: Docker Hub images are pulled anonymously, straight from Docker Hub
   */
  readonly dockerHubCredentialsSecretArn?: string;
  /**
   * Repository prefix of the cache in this account's private registry.
   * @default the stack name, lower-cased, followed by `-docker-hub`
   */
  readonly repositoryPrefix?: string;
}

/**
 * Where the tasks pull their images from: straight from each image's registry, or, for Docker
 * Hub images, through an ECR pull-through cache in this account and region.
 */
export class ImageRegistry extends Construct implements IImageRegistry {
  /** The cache's repository prefix, when Docker Hub images go through it. */
  public readonly repositoryPrefix?: string;

  constructor(scope: Construct, id: string, props: ImageRegistryProps = {}) {
    super(scope, id);
    const arn = props.dockerHubCredentialsSecretArn;
    if (arn === undefined) return;
    if (!PULL_THROUGH_CACHE_SECRET_ARN.test(arn)) {
      throw new Error(`the Docker Hub credentials secret must be named ecr-pullthroughcache/…, as ECR requires; got "${arn}"`);
    }
    const prefix = props.repositoryPrefix ?? `${Stack.of(this).stackName.toLowerCase()}-docker-hub`;
    if (!/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/.test(prefix) || prefix.length < 2 || prefix.length > 30) {
      throw new Error(`the pull-through cache repository prefix must be 2-30 lower-case letters, digits, ".", "_" or "-"; got "${prefix}"`);
    }
    this.repositoryPrefix = prefix;
    new ecr.CfnPullThroughCacheRule(this, 'DockerHub', {
      ecrRepositoryPrefix: prefix,
      upstreamRegistry: 'docker-hub',
      upstreamRegistryUrl: 'registry-1.docker.io',
      credentialArn: arn,
    });
  }

  /** The reference a task pulls: a Docker Hub image through the cache when there is one, any other as it is. */
  resolve(image: string): string {
    const path = this.repositoryPrefix === undefined ? undefined : dockerHubPath(image);
    if (path === undefined) return image;
    return `${Aws.ACCOUNT_ID}.dkr.ecr.${Aws.REGION}.${Aws.URL_SUFFIX}/${this.repositoryPrefix}/${path}`;
  }

  /** Lets `role` (a task execution role) pull `image`, creating the cache repository on its first pull. */
  grantPull(role: iam.IRole, image: string): void {
    if (this.repositoryPrefix === undefined || dockerHubPath(image) === undefined) return;
    const stack = Stack.of(this);
    const repositories = stack.formatArn({ service: 'ecr', resource: 'repository', resourceName: `${this.repositoryPrefix}/*` });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'PullThroughCache',
        actions: [
          'ecr:BatchGetImage',
          'ecr:GetDownloadUrlForLayer',
          'ecr:BatchCheckLayerAvailability',
          // The first pull of an image creates its repository and imports it from Docker Hub.
          'ecr:CreateRepository',
          'ecr:BatchImportUpstreamImage',
        ],
        resources: [repositories],
      }),
    );
    role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'RegistryLogin', actions: ['ecr:GetAuthorizationToken'], resources: ['*'] }));
    const policy = role.node.tryFindChild('DefaultPolicy');
    if (policy) {
      Validations.of(policy).acknowledge(
        { id: 'AwsSolutions-IAM5[Resource::*]', reason: 'ecr:GetAuthorizationToken supports no resource-level permissions.' },
        {
          id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecr:<AWS::Region>:<AWS::AccountId>:repository/${this.repositoryPrefix}/*]`,
          reason:
            'The cache creates one repository per upstream image on first pull, all under the cache prefix; their names are not known in advance.',
        },
      );
    }
  }
}
