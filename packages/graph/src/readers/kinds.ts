/**
 * Types a workload as a database, cache or broker from its container images, else from its
 * container ports. Data stores are sinks: boot order starts them first and exports open no
 * egress for them, so a wrong guess matters; the rules are therefore conservative. An image is
 * typed by the tokens of its repository's last path segment (`bitnami/redis` → `redis`,
 * `confluentinc/cp-kafka` → `cp`, `kafka`), and never when a token says it is a tool around the
 * store (`redis-exporter`, `kafka-ui`, `mongo-express`). Ports type a workload only when every
 * port it exposes is a well-known port of one store kind.
 */
import type { StoreType } from '../model.ts';

const IMAGE_TOKENS: Record<string, StoreType> = {
  postgres: 'database',
  postgresql: 'database',
  postgis: 'database',
  mysql: 'database',
  mariadb: 'database',
  mongo: 'database',
  mongodb: 'database',
  cassandra: 'database',
  scylla: 'database',
  cockroach: 'database',
  cockroachdb: 'database',
  couchdb: 'database',
  couchbase: 'database',
  elasticsearch: 'database',
  opensearch: 'database',
  clickhouse: 'database',
  influxdb: 'database',
  neo4j: 'database',
  mssql: 'database',
  oracle: 'database',
  timescaledb: 'database',
  etcd: 'database',
  redis: 'cache',
  valkey: 'cache',
  keydb: 'cache',
  dragonfly: 'cache',
  memcached: 'cache',
  hazelcast: 'cache',
  rabbitmq: 'messaging',
  kafka: 'messaging',
  redpanda: 'messaging',
  nats: 'messaging',
  pulsar: 'messaging',
  activemq: 'messaging',
  artemis: 'messaging',
  mosquitto: 'messaging',
  emqx: 'messaging',
  nsq: 'messaging',
  nsqd: 'messaging',
};

/** Tokens that mark a tool beside a store, not the store itself. */
const TOOL_TOKENS = new Set([
  'exporter',
  'operator',
  'ui',
  'admin',
  'commander',
  'express',
  'insight',
  'dashboard',
  'proxy',
  'client',
  'cli',
  'backup',
  'metrics',
  'connect',
  'manager',
  'sentinel-exporter',
  'migrate',
  'migrations',
  'init',
]);

const PORTS: Record<number, StoreType> = {
  5432: 'database',
  3306: 'database',
  27017: 'database',
  9042: 'database',
  26257: 'database',
  5984: 'database',
  9200: 'database',
  8123: 'database',
  1433: 'database',
  6379: 'cache',
  11211: 'cache',
  5672: 'messaging',
  9092: 'messaging',
  4222: 'messaging',
  6650: 'messaging',
  1883: 'messaging',
  61616: 'messaging',
};

/** The store type an image name says, if any. Never throws, whatever the string. */
export function storeTypeOfImage(image: string): StoreType | undefined {
  if (image.length > 512) return undefined;
  // registry/path/name:tag@digest → name
  const noDigest = image.split('@')[0]!;
  const last = noDigest.slice(noDigest.lastIndexOf('/') + 1);
  const name = last.split(':')[0]!.toLowerCase();
  const tokens = name.split(/[-_.]+/).filter((t) => t !== '');
  if (tokens.some((t) => TOOL_TOKENS.has(t))) return undefined;
  for (const t of tokens) {
    if (Object.hasOwn(IMAGE_TOKENS, t)) return IMAGE_TOKENS[t];
  }
  return undefined;
}

/**
 * Types a workload from its images (all containers but init containers) and container ports.
 * Returns the type and why, or undefined for a plain service.
 */
export function classifyWorkload(
  images: readonly string[],
  ports: readonly number[],
): { type: StoreType; typedFrom: string } | undefined {
  for (const image of images) {
    const type = storeTypeOfImage(image);
    if (type) return { type, typedFrom: `image ${image}` };
  }
  if (ports.length === 0) return undefined;
  const types = new Set(ports.map((p) => (Object.hasOwn(PORTS, p) ? PORTS[p] : undefined)));
  if (types.size !== 1 || types.has(undefined)) return undefined;
  const type = [...types][0]!;
  return { type, typedFrom: `port ${[...new Set(ports)].sort((a, b) => a - b).join(', ')}` };
}
