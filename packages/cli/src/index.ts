export { CliError } from './errors.ts';
export { buildProgram, main } from './main.ts';
