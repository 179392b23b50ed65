export { BundleError, type BundleErrorCode } from './errors.ts';
export {
  type BundlePublicKey,
  exportPublicKey,
  generateBundleSigningKey,
  importPublicKey,
  keyIdOf,
} from './keys.ts';
export { bundleHash, signBundle } from './sign.ts';
export { type VerifyBundleOptions, verifyBundle } from './verify.ts';
