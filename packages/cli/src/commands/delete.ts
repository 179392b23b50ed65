/**
 * `ward delete services|intentions|attribute-schemas|gateways|routes|secretpolicies NAME [-n NS] [-o text|json|yaml]`: delete one
 * stored document, the kubectl way (NAME is in `-n`'s namespace, or written `NS/NAME`). Goes
 * through the same validated, authorized, audited path as `ward apply`: a delete that would leave
 * the stored policy broken (an intention on a deleted service) is refused and nothing changes.
 */
import type { ApplyResult } from '@ward/server/client';
import type { Command } from 'commander';
import { addOutputOption, printResult } from '../options.ts';
import {
  type ConnectionOptions,
  call,
  keySegment,
  namespaceOption,
  resolveKey,
  withConnection,
} from './_api.ts';
import { formatApply } from './apply.ts';
import { resourcePath } from './get.ts';

export function register(program: Command): void {
  withConnection(
    addOutputOption(
      program
        .command('delete')
        .description(
          'delete one service, intention, attribute schema, gateway or route from the control plane',
        )
        .argument('<resource>', 'service, intention, attribute-schema, gateway or route')
        .argument('<name>', 'its name (or namespace/name)')
        .addOption(namespaceOption()),
    ),
  ).action(
    async (
      resource: string,
      name: string,
      opts: ConnectionOptions & { output: string; namespace?: string },
    ) => {
      const path = resourcePath(resource);
      const key = resolveKey(name, opts.namespace);
      const result = await call<ApplyResult>(opts, 'DELETE', `/v1/${path}/${keySegment(key)}`);
      printResult(opts.output, result, () => formatApply(result, false));
    },
  );
}
