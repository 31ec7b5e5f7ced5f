export { Store, openStore, type StoreOptions } from './store.js';
export type { Conversations, CreateConversationInput, UpdateConversationInput, ConversationPage } from './conversations.js';
export type { Messages, HistoryOptions, MessagePage } from './messages.js';
export type { Turns, AppendTurnInput, MessageInput, RunTurnOptions } from './turns.js';
export type { Onboarding, StartOnboardingInput, AdvanceOnboardingInput } from './onboarding.js';
export type { EraseReport } from './erase-user.js';
export type { Agent, AgentInput, AgentMessage, AgentReply } from './agent.js';
export type { Conversation, Message, Turn, OnboardingSession, OnboardingStatus, JsonObject } from './rows.js';
