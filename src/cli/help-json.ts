import { Command, type Help, type HelpContext } from 'commander';

/** An option as `--json --help` describes it. */
interface OptionDescription {
  flags: string;
  description: string;
  /** As it would be typed (a duration as "30m"); absent when the option has none. */
  default?: unknown;
  choices?: readonly string[];
}

/** A command as `--json --help` describes it: the same facts as the text help, for programs. */
export interface CommandDescription {
  name: string;
  usage: string;
  description: string;
  arguments: Array<{ name: string; description: string; required: boolean }>;
  options: OptionDescription[];
  /** Subcommands, each described in full. */
  commands: CommandDescription[];
}

/** `command` and everything below it, from commander's own model (the text help reads the same). */
export function describeCommand(command: Command, help: Help = command.createHelp()): CommandDescription {
  return {
    name: fullName(command),
    usage: help.commandUsage(command),
    description: help.commandDescription(command),
    arguments: help.visibleArguments(command).map((a) => ({ name: a.name(), description: a.description, required: a.required })),
    options: help.visibleOptions(command).map(describeOption),
    commands: help
      .visibleCommands(command)
      .filter((sub) => sub.name() !== 'help')
      .map((sub) => describeCommand(sub, help)),
  };
}

function describeOption(option: Command['options'][number]): OptionDescription {
  const given = option.defaultValueDescription ?? option.defaultValue;
  return {
    flags: option.flags,
    description: option.description,
    ...(given === undefined ? {} : { default: given }),
    ...(option.argChoices ? { choices: option.argChoices } : {}),
  };
}

function fullName(command: Command): string {
  const names: string[] = [];
  for (let at: Command | null = command; at; at = at.parent) names.unshift(at.name());
  return names.join(' ');
}

/**
 * geo's commands: under `--json`, `--help` prints the command's description as
 * one JSON document on stdout. Help shown for a usage error stays text on
 * stderr, for the person who made it. Subcommands are made by
 * `createCommand`, so every one of them does the same.
 */
export class GeoCommand extends Command {
  /** Set on the program when --json was given. */
  jsonOutput = false;

  override createCommand(name?: string): GeoCommand {
    return new GeoCommand(name);
  }

  override helpInformation(context?: HelpContext): string {
    if (!this.root().jsonOutput || context?.error) return super.helpInformation(context);
    return `${JSON.stringify(describeCommand(this), null, 2)}\n`;
  }

  private root(): GeoCommand {
    let at: Command = this;
    while (at.parent) at = at.parent;
    return at as GeoCommand;
  }
}
