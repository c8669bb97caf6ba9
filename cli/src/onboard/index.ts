export { onboardClient, resolveWorkflow, type OnboardDeps, type OnboardResult, type StepResult, type StepStatus } from './onboard';
export { promptForSpec, type Ask, type PromptContext } from './prompt';
export { describeIssues, getIn, onboardSpecSchema, readSpecFile, setIn, validateSpec, type OnboardSpec, type RawSpec } from './spec';
export { formatOnboardSummary } from './summary';
export * from './workflow';
