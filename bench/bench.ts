/** Shared shape of one benchmark module (bench/<name>.bench.ts default-exports a BenchModule). */
export interface BenchResult {
  /** Headline metrics (numbers with units in the key, e.g. `added_ttft_p50_ms`). */
  metrics: Record<string, number | string | null>;
  /** Human lines printed under the bench name (ratios measured side by side in this run). */
  lines: string[];
}
export interface BenchModule {
  name: string;
  description: string;
  run(): Promise<BenchResult>;
}
