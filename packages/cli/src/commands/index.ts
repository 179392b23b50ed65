import type { Command } from 'commander';
import { register as registerAgent } from './agent.ts';
import { register as registerApply } from './apply.ts';
import { register as registerAudit } from './audit.ts';
import { register as registerCa } from './ca.ts';
import { register as registerDelete } from './delete.ts';
import { register as registerGateway } from './gateway.ts';
import { register as registerGet } from './get.ts';
import { register as registerGraph } from './graph.ts';
import { register as registerHistory } from './history.ts';
import { register as registerLogs } from './logs.ts';
import { register as registerPassport } from './passport.ts';
import { register as registerPolicy } from './policy.ts';
import { register as registerPromote } from './promote.ts';
import { register as registerPropose } from './propose.ts';
import { register as registerReport } from './report.ts';
import { register as registerRollback } from './rollback.ts';
import { register as registerSecret } from './secret.ts';
import { register as registerServer } from './server.ts';
import { register as registerStart } from './start.ts';
import { register as registerStatus } from './status.ts';
import { register as registerTokens } from './tokens.ts';
import { register as registerVulns } from './vulns.ts';

/**
 * Every subcommand lives in its own file under `commands/` and exports `register(program)`.
 * Add one line here per command group.
 */
export function registerCommands(program: Command): void {
  void program;
  registerPassport(program);
  registerServer(program);
  registerStart(program);
  registerApply(program);
  registerGet(program);
  registerDelete(program);
  registerHistory(program);
  registerRollback(program);
  registerAudit(program);
  registerTokens(program);
  registerPolicy(program);
  registerGraph(program);
  registerReport(program);
  registerLogs(program);
  registerPromote(program);
  registerPropose(program);
  registerCa(program);
  registerAgent(program);
  registerStatus(program);
  registerGateway(program);
  registerSecret(program);
  registerVulns(program);
}
