import { readFileSync } from 'node:fs';
import { DEFAULT_PRICES, mergePriceTable, type PriceTable } from '../analyze/prices.js';
import { InputError, errorMessage } from '../shared/errors.js';

/** The price table for cost figures: the built-in dated table, with a `--prices` JSON file laid over it. */
export function loadPriceTable(file: string | undefined): PriceTable {
  if (!file) return DEFAULT_PRICES;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new InputError(`cannot read price file ${file}: ${errorMessage(e)}`);
  }
  return mergePriceTable(DEFAULT_PRICES, json, file);
}
