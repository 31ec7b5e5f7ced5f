import { getEncoding } from 'js-tiktoken';
import { describe, expect, it } from 'vitest';
import type { AgentMessage } from '../../src/store/agent.js';
import { cutToTokenBudget, estimateTokens } from '../../src/store/history-budget.js';

const message = (content: string): AgentMessage => ({
  role: 'user',
  content,
  createdAt: new Date(0),
});

/** Natural text of the kinds a chat holds; each is a few sentences, as a message is. */
const CORPUS: Readonly<Record<string, string>> = {
  english: 'The quick brown fox jumps over the lazy dog. Please add milk and eggs to my shopping list for tomorrow. I would like to run 5 km next week, and maybe a half marathon in spring!',
  chinese: '请帮我把牛奶和鸡蛋加到明天的购物清单里。我想下周跑完五公里。你能告诉我如何开始训练吗？我每天有三十分钟的时间。',
  japanese: '明日の買い物リストに牛乳と卵を追加してください。来週は5キロ走りたいです。トレーニングの始め方を教えてもらえますか？',
  korean: '내일 장보기 목록에 우유와 계란을 추가해 주세요. 다음 주에 5킬로미터를 달리고 싶어요. 훈련을 어떻게 시작하면 좋을까요?',
  russian: 'Пожалуйста, добавь молоко и яйца в мой список покупок на завтра. Я хочу пробежать пять километров на следующей неделе.',
  ukrainian: 'Будь ласка, додай молоко та яйця до мого списку покупок на завтра. Щиро дякую, друже!',
  arabic: 'من فضلك أضف الحليب والبيض إلى قائمة التسوق الخاصة بي ليوم غد. أريد أن أركض خمسة كيلومترات الأسبوع المقبل.',
  hebrew: 'בבקשה הוסף חלב וביצים לרשימת הקניות שלי למחר. אני רוצה לרוץ חמישה קילומטרים בשבוע הבא.',
  hindi: 'कृपया कल की मेरी खरीदारी सूची में दूध और अंडे जोड़ें। मैं अगले सप्ताह पाँच किलोमीटर दौड़ना चाहता हूँ।',
  thai: 'กรุณาเพิ่มนมและไข่ลงในรายการซื้อของของฉันสำหรับพรุ่งนี้ ฉันอยากวิ่งห้ากิโลเมตรในสัปดาห์หน้า',
  greek: 'Παρακαλώ πρόσθεσε γάλα και αυγά στη λίστα αγορών μου για αύριο. Θέλω να τρέξω πέντε χιλιόμετρα την επόμενη εβδομάδα.',
  vietnamese: 'Vui lòng thêm sữa và trứng vào danh sách mua sắm của tôi cho ngày mai. Tôi muốn chạy năm cây số vào tuần tới.',
  german: 'Bitte füge Milch und Eier zu meiner Einkaufsliste für morgen hinzu. Ich möchte nächste Woche fünf Kilometer laufen – schaffe ich das?',
  french: "Ajoute du lait et des œufs à ma liste de courses pour demain, s'il te plaît. J'aimerais courir cinq kilomètres la semaine prochaine.",
  emoji: '🏃‍♀️🥛🥚✅🎉👍🏽🔥💯👨‍👩‍👧‍👦🇩🇪 Great job today 🎉🎉 you ran 5k 🏃‍♂️ keep going 💪🔥!!',
  code: 'function add(a, b) { return a + b; } // TODO: handle NaN\nconst x = [1,2,3].map((n) => n * 2);\nif (x.length !== 3) throw new Error(`bad: ${x}`);',
  json: '{"id":"0190f0f0-0000-7000-8000-000000000000","items":[{"name":"milk","qty":2},{"name":"eggs","qty":12}],"done":false}',
  numbers: '3.14159265358979323846264338327950288419716939937510 42 1000000 2026-11-25T06:17:27Z 0190f0f0-0000-7000-8000-000000000000',
  maths: '∑∫∂√∞≈≠≤≥ ∀x∈ℝ: x²≥0 → α+β=γ',
  mixed: 'Meeting w/ 田中さん @ 3pm — agenda: 1) Q3 budget 2) ロードマップ 3) hiring 🚀 https://example.com/path?query=1&other=two#frag',
};

/** The history token budget: a safety margin, so estimates err long and whatever fits is kept. */
describe('estimateTokens', () => {
  const tokenizers = [getEncoding('cl100k_base'), getEncoding('o200k_base')];
  const counted = (text: string) => Math.max(...tokenizers.map((t) => t.encode(text).length));

  // "One token per four characters" was 4x short for Chinese: a budget sized for English let four times too much through.
  it.each(Object.entries(CORPUS))('%s: at least what cl100k_base and o200k_base count, plus 4 for the framing', (_kind, text) => {
    expect(estimateTokens(text) - 4).toBeGreaterThanOrEqual(counted(text));
  });

  it('errs long by a margin, not by a multiple, on English: a budget is not wasted', () => {
    const text = CORPUS['english']!;
    expect(estimateTokens(text) - 4).toBeLessThanOrEqual(Math.ceil(counted(text) * 1.5));
  });

  it('an empty message is its framing; one more character never costs less', () => {
    expect(estimateTokens('')).toBe(4);
    for (const text of Object.values(CORPUS)) {
      expect(estimateTokens(text + 'x')).toBeGreaterThanOrEqual(estimateTokens(text));
    }
  });
});

describe('cutToTokenBudget', () => {
  const history = ['oldest message', 'a middle one', 'the newest'].map(message);
  const costs = history.map((m) => estimateTokens(m.content));
  const total = costs.reduce((sum, cost) => sum + cost, 0);

  it('keeps the whole history when it fits exactly, and drops the oldest message once it is one token over', () => {
    expect(cutToTokenBudget(history, total)).toEqual(history);
    expect(cutToTokenBudget(history, total - 1)).toEqual(history.slice(1));
  });

  it('keeps the newest messages, oldest first; a budget too small for the newest keeps nothing; no budget keeps all', () => {
    expect(cutToTokenBudget(history, costs[2]!)).toEqual(history.slice(2));
    expect(cutToTokenBudget(history, costs[2]! - 1)).toEqual([]);
    expect(cutToTokenBudget(history, undefined)).toBe(history);
  });
});
