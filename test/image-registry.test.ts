import { dockerHubPath } from '../lib/image-registry';
import { containersOf, logicalIdOf, nagViolations, resourcesOf, statementsOfRole, synthStack } from './helpers';

const SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:ecr-pullthroughcache/docker-hub-AbCdEf';

describe('dockerHubPath', () => {
  test.each([
    ['grafana/mimir:3.2.1', 'grafana/mimir:3.2.1'],
    ['memcached:1.6.45', 'library/memcached:1.6.45'],
    ['docker.io/grafana/loki:3.7.8', 'grafana/loki:3.7.8'],
    ['registry-1.docker.io/library/busybox:1.37.0', 'library/busybox:1.37.0'],
    ['public.ecr.aws/docker/library/busybox:1.37.0', undefined],
    ['123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror/mimir:3.2.1', undefined],
    ['localhost:5000/mimir:3.2.1', undefined],
  ])('%s → %s', (image, path) => {
    expect(dockerHubPath(image)).toBe(path);
  });
});

describe('Docker Hub through an ECR pull-through cache', () => {
  const { template } = synthStack({ images: { dockerHubCredentialsSecretArn: SECRET } });

  test('one cache rule for Docker Hub, with the credentials', () => {
    template.hasResourceProperties('AWS::ECR::PullThroughCacheRule', {
      EcrRepositoryPrefix: 'lgtmfleet-docker-hub',
      UpstreamRegistry: 'docker-hub',
      UpstreamRegistryUrl: 'registry-1.docker.io',
      CredentialArn: SECRET,
    });
  });

  test('every Docker Hub image is pulled through the cache; ECR Public images stay as they are', () => {
    const images = ['Mimir', 'Loki', 'Tempo', 'Grafana', 'Memcached', 'Collector'].flatMap((name) =>
      containersOf(template, `${name}BackendTask`).map((c) => JSON.stringify(c.Image)),
    );
    const cached = images.filter((i) => i.includes('/lgtmfleet-docker-hub/'));
    expect(cached.map((i) => /docker-hub\/([^"]+)"/.exec(i)?.[1]).sort()).toEqual(
      ['grafana/alloy:v1.21.2', 'grafana/grafana:13.2.1', 'grafana/loki:3.7.8', 'grafana/mimir:3.2.1', 'grafana/tempo:3.0.3'].sort(),
    );
    for (const image of images.filter((i) => !cached.includes(i))) expect(image).toMatch(/^"public\.ecr\.aws\//);
  });

  test('the execution role may pull and import only under the cache prefix', () => {
    const statements = statementsOfRole(template, 'MimirBackendTaskExecutionRole');
    const pull = statements.find((s) => s.Sid === 'PullThroughCache');
    expect(pull?.Action).toEqual(
      expect.arrayContaining(['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:CreateRepository', 'ecr:BatchImportUpstreamImage']),
    );
    expect(JSON.stringify(pull?.Resource)).toContain(':repository/lgtmfleet-docker-hub/*');
    // Memcached's image is on ECR Public: nothing to grant.
    expect(statementsOfRole(template, 'MemcachedBackendTaskExecutionRole').find((s) => s.Sid === 'PullThroughCache')).toBeUndefined();
  });

  test('without credentials there is no cache and images come straight from their registries', () => {
    const { template: plain } = synthStack({});
    plain.resourceCountIs('AWS::ECR::PullThroughCacheRule', 0);
    expect(JSON.stringify(containersOf(plain, 'MimirBackendTask').map((c) => c.Image))).toContain('"grafana/mimir:3.2.1"');
    expect(logicalIdOf(plain, 'AWS::ECS::TaskDefinition', 'MemcachedBackendTask')).toBeDefined();
    expect(JSON.stringify(resourcesOf(plain, 'AWS::ECS::TaskDefinition'))).toContain('public.ecr.aws/docker/library/memcached:1.6.45');
  });

  test('a secret not named ecr-pullthroughcache/… is refused, naming the field', () => {
    expect(() =>
      synthStack({ images: { dockerHubCredentialsSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:dockerhub-AbCdEf' } }),
    ).toThrow(/images\.dockerHubCredentialsSecretArn.*ecr-pullthroughcache/);
  });

  test('cdk-nag finds nothing unacknowledged', () => {
    expect(nagViolations({ images: { dockerHubCredentialsSecretArn: SECRET } })).toEqual([]);
  });
});
