// Request/response plumbing shared by $cbs and $management: the client sends
// a request on one link and names its reply link in reply_to.
import type { Message, Sender } from 'rhea';
import { remoteAddresses } from './internals.js';

/**
 * Reply links of one connection. Link names are unique per connection only,
 * so the registry lives on the connection. $cbs names the link after reply_to;
 * $management uses reply_to as the link's target address.
 */
export class ReplyLinks {
  private readonly links = new Map<string, Sender>();

  add(link: Sender): void {
    this.links.set(link.name, link);
    const { target } = remoteAddresses(link);
    if (target) this.links.set(target, link);
  }

  remove(link: Sender): void {
    for (const [key, value] of this.links) if (value === link) this.links.delete(key);
  }

  find(replyTo: string): Sender | undefined {
    return this.links.get(replyTo);
  }
}

export interface Reply {
  status: number;
  description: string;
  body?: unknown;
  /** Sent as error-condition, which the SDK prefers over mapping the status code. */
  condition?: string;
}

export function appProperty(request: Message, name: string): unknown {
  const props = request.application_properties as Record<string, unknown> | undefined;
  return props?.[name];
}

/** Returns false when the reply link named by reply_to does not exist (the reply is lost, as on a broker). */
export function respond(links: ReplyLinks, request: Message, reply: Reply): boolean {
  const replyTo: unknown = request.reply_to;
  const link = typeof replyTo === 'string' ? links.find(replyTo) : undefined;
  if (!link || !link.is_open()) return false;
  // $cbs replies use dashed keys; $management replies use camelCase, and the
  // SDK's peek checks `statusCode` directly. Sending both suits every reader.
  const props: Record<string, unknown> = {
    'status-code': reply.status,
    statusCode: reply.status,
    'status-description': reply.description,
    statusDescription: reply.description,
  };
  if (reply.condition) {
    props['error-condition'] = reply.condition;
    props.errorCondition = reply.condition;
  }
  const message: Record<string, unknown> = { correlation_id: request.message_id, application_properties: props };
  if (reply.body !== undefined) message.body = reply.body;
  link.send(message as unknown as Message);
  return true;
}
