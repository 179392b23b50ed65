import type { Command } from 'commander';
import { register as registerPassport } from './passport.ts';

/**
 * Every subcommand lives in its own file under `commands/` and exports `register(program)`.
 * Add one line here per command group.
 */
export function registerCommands(program: Command): void {
  void program;
  registerPassport(program);
}
