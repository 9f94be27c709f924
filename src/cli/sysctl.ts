/**
 * `kiolab sysctl <subsystem>`: a subsystem's tunables as its kernel derives them, for the options
 * given (the same limits as the bench). Subsystems register with `registerSysctl`.
 */
import { parseCommandArgs } from './args.js';
import { type OptionSpec, type OptionValues, UsageError, optionsHelp, registerCommand } from './registry.js';


export interface SysctlProvider {
  /** The subsystem name users type: `kiolab sysctl <name>`. */
  name: string;
  summary: string;
  options: Record<string, OptionSpec>;
  /** The values, by sysctl name. Throw UsageError for bad options. */
  run(values: OptionValues): Record<string, number> | Promise<Record<string, number>>;
}

const sysctlProviders = new Map<string, SysctlProvider>();

/** Add a subsystem to `kiolab sysctl`. */
export function registerSysctl(p: SysctlProvider): void {
  sysctlProviders.set(p.name, p);
}

function sysctlHelp(): string {
  return `Usage: kiolab sysctl <subsystem> [options] [--json]\n\nSubsystems:\n${[...sysctlProviders.values()]
    .map((p) => `  ${p.name.padEnd(12)} ${p.summary}`)
    .join('\n')}`;
}

registerCommand({
  name: 'sysctl',
  summary: "print a subsystem's tunables (kiolab sysctl bufcache --nbuf N)",
  async run(argv) {
    const name = argv.find((a) => !a.startsWith('-'));
    const p = name ? sysctlProviders.get(name) : undefined;
    if (!p) {
      if (argv.includes('--help') || argv.includes('-h')) {
        console.log(sysctlHelp());
        return 0;
      }
      throw new UsageError(name ? `sysctl: unknown subsystem ${JSON.stringify(name)}; one of: ${[...sysctlProviders.keys()].join(', ')}` : `sysctl: which subsystem? One of: ${[...sysctlProviders.keys()].join(', ')}`);
    }
    const { values, positionals } = parseCommandArgs(`sysctl ${p.name}`, argv, { ...Object.fromEntries(Object.entries(p.options).map(([k, o]) => [k, { type: o.type }])), json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } as never);
    if (positionals.length > 1) throw new UsageError(`sysctl: unexpected argument ${JSON.stringify(positionals[1])}`);
    const v = values as OptionValues;
    if (v.help) {
      console.log(`Usage: kiolab sysctl ${p.name} [options] [--json]\n\n${p.summary}\n\nOptions:\n${optionsHelp({ ...p.options, json: { type: 'boolean', help: 'print JSON' } })}`);
      return 0;
    }
    const out = await p.run(v);
    if (v.json) console.log(JSON.stringify(out, null, 2));
    else {
      const w = Math.max(...Object.keys(out).map((k) => k.length));
      for (const [k, x] of Object.entries(out)) console.log(`${k.padEnd(w)}: ${x}`);
    }
    return 0;
  },
});

