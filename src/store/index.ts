export * from './db.js';
export * from './db-types.js';
export * from './schema.js';
export * from './requests-repo.js';
