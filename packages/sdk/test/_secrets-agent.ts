/**
 * A stand-in for the node agent's `ward.agent.v1.Secrets/WatchSecret`: a real gRPC server on a
 * real Unix socket, checking the `workload.spiffe.io: true` metadata as the agent does, holding
 * one state per secret and pushing it to every open call on change. Tests steer it: set a
 * value, withdraw access (PERMISSION_DENIED), send a raw message, stop and restart.
 */
import { rmSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { AGENT_SECRETS_SERVICE, type SecretWatchReplyV1 } from '@ward/api-types';

type Call = grpc.ServerWritableStream<unknown, unknown>;

export class FakeSecretsAgent {
  readonly socketPath: string;
  /** Calls refused for lack of the security metadata. */
  missingHeader = 0;
  /** Calls opened, by requested secret. */
  readonly opened = new Map<string, number>();
  readonly #state = new Map<string, SecretWatchReplyV1>();
  readonly #denied = new Map<string, string>();
  readonly #calls = new Map<string, Set<Call>>();
  #server: grpc.Server | undefined;

  private constructor(socketPath: string) {
    this.socketPath = socketPath;
  }

  static async start(socketPath: string): Promise<FakeSecretsAgent> {
    const agent = new FakeSecretsAgent(socketPath);
    await agent.listen();
    return agent;
  }

  async listen(): Promise<void> {
    rmSync(this.socketPath, { force: true });
    const server = new grpc.Server();
    server.addService(AGENT_SECRETS_SERVICE as unknown as grpc.ServiceDefinition, {
      WatchSecret: (call: Call) => this.#serve(call),
    });
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix://${this.socketPath}`, grpc.ServerCredentials.createInsecure(), (e) =>
        e ? reject(e) : resolve(),
      ),
    );
    this.#server = server;
  }

  /** Sets a secret's state and pushes it to every open call for it. */
  set(reply: SecretWatchReplyV1): void {
    this.#state.set(reply.secret, reply);
    for (const call of this.#calls.get(reply.secret) ?? []) call.write(reply);
  }

  /** Writes any message (malformed replies) to the open calls for `secret`. */
  sendRaw(secret: string, message: unknown): void {
    for (const call of this.#calls.get(secret) ?? []) call.write(message);
  }

  /** Refuses `secret` from now on and ends its open calls with PERMISSION_DENIED. */
  deny(secret: string, details: string): void {
    this.#denied.set(secret, details);
    for (const call of this.#calls.get(secret) ?? []) this.#refuse(call, details);
  }

  allow(secret: string): void {
    this.#denied.delete(secret);
  }

  openCalls(secret: string): number {
    return this.#calls.get(secret)?.size ?? 0;
  }

  async stop(): Promise<void> {
    this.#server?.forceShutdown();
    this.#server = undefined;
    this.#calls.clear();
    rmSync(this.socketPath, { force: true });
  }

  #serve(call: Call): void {
    if (call.metadata.get('workload.spiffe.io')[0] !== 'true') {
      this.missingHeader++;
      call.emit('error', serviceError(grpc.status.INVALID_ARGUMENT, 'missing metadata'));
      return;
    }
    const secret = String((call.request as { secret?: unknown }).secret);
    this.opened.set(secret, (this.opened.get(secret) ?? 0) + 1);
    const denied = this.#denied.get(secret);
    if (denied !== undefined) {
      this.#refuse(call, denied);
      return;
    }
    const calls = this.#calls.get(secret) ?? new Set<Call>();
    this.#calls.set(secret, calls);
    calls.add(call);
    call.on('cancelled', () => calls.delete(call));
    const state = this.#state.get(secret);
    // A secret the agent does not hold yet: the call waits, as the agent's does.
    if (state) call.write(state);
  }

  #refuse(call: Call, details: string): void {
    this.#calls.get(String((call.request as { secret?: unknown }).secret))?.delete(call);
    call.emit('error', serviceError(grpc.status.PERMISSION_DENIED, details));
  }
}

function serviceError(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), {
    code,
    details,
    metadata: new grpc.Metadata(),
  }) as grpc.ServiceError;
}
