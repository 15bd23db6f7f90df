// Request/response plumbing shared by $cbs and $management: the client sends
// a request on one link and receives the reply on a link attached from the
// same node.

import type { Message, Sender } from 'rhea';
import rhea from 'rhea';
import { entityPath } from './cbs.js';
import { remoteAddresses } from './internals.js';

/**
 * Reply links of one connection. Link names are unique per connection only,
 * so the registry lives on the connection. @azure/service-bus names its $cbs
 * reply link after reply_to and uses reply_to as the $management reply link's
 * target address; uamqp (the Python SDK) sends no reply_to at all and expects
 * the reply on the link it attached from the node it sent the request to.
 */
export class ReplyLinks {
  private readonly links = new Map<string, Sender>();
  /** Reply links by the node they were attached from ('$cbs', 'q/$management'), latest last. */
  private readonly byNode = new Map<string, Sender[]>();

  add(link: Sender): void {
    this.links.set(link.name, link);
    const { source, target } = remoteAddresses(link);
    if (target) this.links.set(target, link);
    if (source) {
      const node = entityPath(source);
      this.byNode.set(node, [...(this.byNode.get(node) ?? []), link]);
    }
  }

  remove(link: Sender): void {
    for (const [key, value] of this.links) if (value === link) this.links.delete(key);
    for (const [node, links] of this.byNode) {
      const rest = links.filter((l) => l !== link);
      if (rest.length > 0) this.byNode.set(node, rest);
      else this.byNode.delete(node);
    }
  }

  /** The link named by reply_to, or without one the latest open link attached from the request's node. */
  find(replyTo: unknown, node: string): Sender | undefined {
    if (typeof replyTo === 'string') return this.links.get(replyTo);
    return this.byNode
      .get(entityPath(node))
      ?.filter((l) => l.is_open())
      .at(-1);
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

/**
 * Answers a request sent to `node` ('$cbs' or '<queue>/$management'). Returns
 * false when no reply link exists (the reply is lost, as on a broker).
 */
export function respond(links: ReplyLinks, request: Message, reply: Reply, node: string): boolean {
  const link = links.find(request.reply_to, node);
  if (!link?.is_open()) return false;
  // Service Bus sends the status code as an AMQP int: uamqp reads only that
  // type, while rhea would encode a plain number as uint. $cbs replies use
  // dashed keys; $management replies use camelCase, and the Node SDK's peek
  // checks `statusCode` directly. Sending both suits every reader.
  const status = rhea.types.wrap_int(reply.status);
  const props: Record<string, unknown> = {
    'status-code': status,
    statusCode: status,
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
