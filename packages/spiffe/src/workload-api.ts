import { fileURLToPath } from 'node:url';

/**
 * Absolute path of the SPIFFE Workload API protobuf definition shipped with this package. A
 * separate entry point so that importing `@ward/spiffe` itself touches no `node:` module.
 */
export const WORKLOAD_PROTO_PATH: string = fileURLToPath(
  new URL('../proto/workload.proto', import.meta.url),
);
