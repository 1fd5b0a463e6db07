/** latchd configuration: schema (schema.ts), loading (load.ts). */
export { deepFreeze, loadConfig, parseConfig, parseYamlText, readYamlFile } from './load.js'
export { type Config, configSchema, DEFAULTS, type WorkloadConfig } from './schema.js'
