/** The bootcache scenario and commands of the kiolab command (registered here; see registry.ts). */
export {};
